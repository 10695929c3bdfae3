"""What a commune must publish: Mentions légales, Données personnelles (the RGPD notice),
Déclaration d'accessibilité, Aide, and the source of the running version (AGPL)."""
