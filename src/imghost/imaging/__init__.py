"""Pure pixel and byte work: format sniffing, probing, decode checks (no I/O policy)."""
