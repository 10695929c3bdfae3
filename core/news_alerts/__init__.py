"""News by e-mail ("informations diverses"): parents opt in from "Mes informations", a commune
sends a published news item once to them, each mail with a one-click unsubscribe link."""
