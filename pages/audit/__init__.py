"""The Audit log screen: filters, the events, the chain check and export (view modules)."""
