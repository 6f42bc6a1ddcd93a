"""Pure statistics: no database, no streamlit. Each function returns a frozen dataclass."""
