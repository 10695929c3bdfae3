"""The parent's rights in "Mes informations": "Télécharger mes données" (`export`) and
"Supprimer mon compte" (`deletion`); their pages in `controllers`."""
