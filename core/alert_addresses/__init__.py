"""Extra addresses told about new invoices, up to 3 per account, each confirmed by a link."""
