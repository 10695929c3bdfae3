"""What a commune must publish (issue 9): Mentions légales, Données personnelles, Déclaration
d'accessibilité, Aide, and the source of the running version, linked from every page's footer."""

from __future__ import annotations

import copy
import gzip
import io
import re
import tarfile
from typing import Any

import pytest

from core.config import PortalConfig, parse_config
from core.version import software_version
from tests.integration.conftest import CONFIG, Portal, sign_in

BOE_LEGAL = {
    "address": "Place de la Mairie, 47550 Boé",
    "publication_director": "Le maire de Boé",
    "host_name": "Hébergeur Exemple SAS",
    "host_address": "1 rue de l’Exemple, 47000 Agen",
    "host_phone": "05 53 00 00 99",
    "dpo": "dpo@boe.test",
    "records_retention": "10 ans après l’exercice comptable",
    "accessibility": "partially-compliant",
    "accessibility_audit_date": "2026-10-15",
    "accessibility_audit_by": "Audit Exemple",
    "accessibility_rate": "72 %",
    "accessibility_issues": ["Le plan du site manque."],
}
BOE_HELP = "Les factures sont mises en ligne au début de chaque mois.\n\nVoir https://boe.test/inscriptions."


@pytest.fixture
def portal_config() -> PortalConfig:
    """Boé publishes everything; Aure (left as the shared test configuration) nothing yet."""
    raw: dict[str, Any] = copy.deepcopy(CONFIG)
    raw["communes"][0]["legal"] = BOE_LEGAL
    raw["communes"][0]["help"] = BOE_HELP
    return parse_config(raw)


def text_of(html: str) -> str:
    """The page's text with tags dropped and spaces collapsed, as a reader gets it."""
    inline_dropped = re.sub(r"</?(?:a|strong|em|code|span)\b[^>]*>", "", html)
    return " ".join(re.sub(r"<[^>]+>", " ", inline_dropped).split())


FOOTER_LINKS = ("mentions-legales", "donnees-personnelles", "accessibilite", "aide")


@pytest.mark.parametrize("slug", ["boe", "aure"])
async def test_every_page_footer_links_the_legal_pages(portal: Portal, slug: str) -> None:
    paths = [f"/{slug}/", f"/{slug}/connexion", f"/{slug}/activation", f"/{slug}/aide"]
    for path in paths:
        html = (await portal.client.get(path)).text
        footer = html[html.index('<footer class="site-footer">') :]
        for target in FOOTER_LINKS:
            assert f'href="/{slug}/{target}"' in footer, (path, target)
        assert 'href="/code-source.tar.gz"' in footer
        assert f"version {software_version()}" in footer
    level = "partiellement conforme" if slug == "boe" else "non conforme"
    assert f"Accessibilité : {level}" in text_of(footer)


async def test_the_footer_is_on_a_signed_in_page_and_the_menu_has_aide(portal: Portal) -> None:
    await sign_in(portal)
    html = (await portal.client.get("/boe/factures")).text
    assert 'href="/boe/mentions-legales"' in html
    nav = html[html.index('aria-label="Menu principal"') : html.index("</nav>")]
    assert 'href="/boe/aide"' in nav


async def test_mentions_legales_names_publisher_host_and_software(portal: Portal) -> None:
    page = await portal.client.get("/boe/mentions-legales")
    assert page.status_code == 200
    text = text_of(page.text)
    for value in ("Ville de Boé", BOE_LEGAL["address"], BOE_LEGAL["publication_director"]):
        assert value in text
    for value in ("Hébergeur Exemple SAS", BOE_LEGAL["host_address"], BOE_LEGAL["host_phone"]):
        assert value in text
    assert f"version {software_version()}" in text and "AGPL-3.0" in text
    assert "pas encore renseignées" not in text


async def test_mentions_legales_lists_what_the_commune_left_empty(portal: Portal) -> None:
    text = text_of((await portal.client.get("/aure/mentions-legales")).text)
    assert "Informations que la commune n’a pas encore renseignées" in text
    for missing in (
        "l’adresse postale de la mairie",
        "le directeur ou la directrice de la publication",
        "le nom de l’hébergeur",
        "l’adresse de l’hébergeur",
        "le téléphone de l’hébergeur",
    ):
        assert missing in text
    assert "L’hébergeur n’est pas encore indiqué" in text


async def test_donnees_personnelles_states_the_portals_own_rules(portal: Portal) -> None:
    page = await portal.client.get("/boe/donnees-personnelles")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Ville de Boé, Place de la Mairie, 47550 Boé, est responsable" in text
    assert "Délégué à la protection des données : dpo@boe.test" in text
    # Purposes, legal basis, recipients, rights, complaint.
    for part in (
        "mettre à votre disposition vos factures",
        "service PayFiP de la Direction générale des Finances publiques",
        "article 6, paragraphe 1, point e",
        "la DGFiP, pour chaque paiement en ligne",
        "articles 15 à 21 du RGPD",
        "télécharger vos données ou supprimer votre compte",
        "réclamation à la Commission nationale de l’informatique et des libertés",
        "ne plus recevoir les factures sur papier",  # Boé enables paper_optout
    ):
        assert part in text, part
    # Retention periods, from the code and the settings (outbox retention: 30 days by default).
    assert "Session de connexion 12 heures au plus" in text
    assert "30 jours avec « Se souvenir de moi »" in text
    assert "Lien d’activation du compte valable 2 jours" in text
    assert "Lien « mot de passe oublié » valable 2 heures" in text
    assert "30 jours après l’envoi" in text
    assert "Reconnaissance de votre appareil (cookie) 90 jours" in text
    assert BOE_LEGAL["records_retention"] in text
    assert 'href="https://www.cnil.fr/fr/adresser-une-plainte"' in page.text
    # The cookies, named, and no consent needed.
    for cookie in ("portail_session", "portail_csrf", "portail_appareil", "portail_gestion"):
        assert f"<code>{cookie}</code>" in page.text
    assert "ne demandent pas votre consentement" in text


async def test_donnees_personnelles_follows_the_settings(portal: Portal, app: Any) -> None:
    from dataclasses import replace

    from core.legal.facts import retentions

    settings = replace(portal.settings, outbox_retention_days=45)
    assert retentions(settings)["sent_mail"].days == 45


async def test_donnees_personnelles_says_what_aure_has_not_given(portal: Portal) -> None:
    text = text_of((await portal.client.get("/aure/donnees-personnelles")).text)
    assert "le contact du délégué à la protection des données" in text
    assert "la durée de conservation des factures, des paiements et des messages" in text
    assert "durée non renseignée par la commune" in text
    assert "TIPI" in text and "PayFiP" not in text  # Aure pays through the legacy TIPI
    assert "factures sur papier" not in text


async def test_accessibility_statement_follows_the_rgaa_model(portal: Portal) -> None:
    text = text_of((await portal.client.get("/boe/accessibilite")).text)
    assert "article 47 de la loi n° 2005-102 du 11 février 2005" in text
    assert "est partiellement conforme avec le référentiel général" in text
    assert "L’audit de conformité réalisé par Audit Exemple le 15/10/2026" in text
    assert "72 % des critères du RGAA version 4.1 sont respectés" in text
    assert "Le plan du site manque." in text
    assert "Les factures au format PDF" in text
    assert "Défenseur des droits" in text and "Libre réponse 71120" in text
    assert "mailto:facturation@boe.test" in (await portal.client.get("/boe/accessibilite")).text


async def test_an_unaudited_commune_is_declared_non_compliant(portal: Portal) -> None:
    text = text_of((await portal.client.get("/aure/accessibilite")).text)
    assert "est non conforme avec le référentiel général" in text
    assert "en l’absence d’audit de conformité" in text
    assert "Date de l’audit : non audité." in text


async def test_aide_explains_the_portal_as_the_commune_runs_it(portal: Portal) -> None:
    page = await portal.client.get("/boe/aide")
    assert page.status_code == 200
    text = text_of(page.text)
    for heading in (
        "Activer mon compte",
        "Mot de passe oublié",
        "Où sont mes factures ?",
        "Payer une facture",
        "Factures papier",
        "Contacter le service facturation",
    ):
        assert f">{heading}</h2>" in page.text, heading
    assert "par carte bancaire ou par prélèvement unique" in text  # PayFiP
    assert "Ne les payez pas en ligne" not in text  # Boé's test config has no prélèvement plugin
    # The commune's own text, as paragraphs with its link.
    assert "<p>Les factures sont mises en ligne au début de chaque mois.</p>" in page.text
    assert 'href="https://boe.test/inscriptions"' in page.text
    aure = text_of((await portal.client.get("/aure/aide")).text)
    assert "vous êtes dirigé vers TIPI" in aure and "prélèvement unique" not in aure
    assert "Factures papier" not in aure


async def test_the_login_page_links_to_aide(portal: Portal) -> None:
    html = (await portal.client.get("/boe/connexion")).text
    main = html[html.index("<main") : html.index("</main>")]
    assert 'href="/boe/aide"' in main


async def test_the_source_archive_holds_the_running_code_and_nothing_else(
    portal: Portal,
) -> None:
    response = await portal.client.get("/code-source.tar.gz")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/gzip"
    name = f"portail-des-factures-{software_version()}"
    assert f'filename="{name}.tar.gz"' in response.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(response.content))) as archive:
        names = archive.getnames()
        app_source = archive.extractfile(f"{name}/core/app.py")
        assert app_source is not None
        assert b"def create_app(" in app_source.read()
    for expected in ("core/legal/source.py", "plugins/payfip/provider.py", "templates/base.html"):
        assert f"{name}/{expected}" in names
    assert any(n.startswith(f"{name}/static/") for n in names)
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]
    assert not [n for n in names if n.endswith((".env", "portail.toml", ".sqlite"))]
    # Reproducible: the same bytes each time.
    assert (await portal.client.get("/code-source.tar.gz")).content == response.content
