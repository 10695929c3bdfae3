"""The "Contact" page: the billing service's details and a message form."""
