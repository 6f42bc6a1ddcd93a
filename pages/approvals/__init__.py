"""The Approvals screen: the inbox, every request with its evidence, executing, the rules (view modules)."""
