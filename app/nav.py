"""Which pages exist and who may open them.

To add a screen: write pages/<name>/page.py and make sure it has a row in PAGES below (the minimum
role that may open it). A row whose file does not exist yet is skipped, so the planned screens
are listed here already and appear in the sidebar as soon as their file lands.
The services check permissions again on every action; hiding a page is only a convenience.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.core.roles import Role

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PageSpec:
    path: str  # relative to the repository root, e.g. "pages/overview/page.py"
    title: str
    icon: str
    section: str
    url_path: str
    min_role: Role = Role.viewer
    default: bool = False


# Why each screen is a folder (pages/<screen>/page.py) and no script sits directly in pages/:
# Streamlit still knows its old pages/ folder convention and, on the first run of a server process,
# serves pages/<name>.py at /<name> without this entrypoint and its login gate. It only looks at
# scripts directly in pages/, so with none there every request goes through streamlit_app.py.
# That first run is also wrapped in a navigation of the entrypoint alone, so a first link other than
# "/" was "Page not found": server.py turns the convention off before any session starts.
# (Pages also re-check the signed-in user themselves; tests/e2e/test_gate_browser.py opens every page URL,
# old and new, signed out on the first run of a fresh server.)


# The sidebar, in order. Sections group pages under a heading.
PAGES: tuple[PageSpec, ...] = (
    PageSpec("pages/overview/page.py", "Overview", ":material/dashboard:", "Loop", "home", default=True),
    PageSpec("pages/data/page.py", "Data", ":material/upload_file:", "Loop", "data-import", Role.analyst),
    PageSpec("pages/feedback/page.py", "Feedback", ":material/feedback:", "Loop", "feedback-queue"),
    PageSpec("pages/monitoring/page.py", "Monitoring", ":material/monitor_heart:", "Loop", "monitor"),
    PageSpec("pages/experiments/page.py", "Experiments", ":material/science:", "Loop", "ab-tests"),
    PageSpec("pages/models/page.py", "Models", ":material/model_training:", "Loop", "model-registry"),
    PageSpec("pages/backlog/page.py", "Backlog", ":material/checklist:", "Loop", "improvement-backlog"),
    PageSpec("pages/approvals/page.py", "Approvals", ":material/approval:", "Governance", "approval-requests"),
    PageSpec("pages/audit/page.py", "Audit log", ":material/receipt_long:", "Governance", "audit-log"),
    PageSpec("pages/schedules/page.py", "Schedules", ":material/schedule:", "Governance", "schedules"),
    PageSpec(
        "pages/notifications/page.py",
        "Notifications",
        ":material/notifications:",
        "Governance",
        "notifications",
        Role.admin,
    ),  # fmt: skip
    PageSpec("pages/settings/page.py", "Settings", ":material/settings:", "Governance", "settings", Role.admin),
    PageSpec("pages/admin/page.py", "Admin", ":material/admin_panel_settings:", "Governance", "user-admin", Role.admin),
    PageSpec("pages/account/page.py", "My account", ":material/account_circle:", "Account", "my-account"),
)


def visible_pages(role: Role, pages: tuple[PageSpec, ...] = PAGES, root: Path = ROOT) -> list[PageSpec]:
    """The pages this role may open whose file exists, in sidebar order."""
    return [p for p in pages if role >= p.min_role and (root / p.path).is_file()]


def refused_pages(role: Role, pages: tuple[PageSpec, ...] = PAGES, root: Path = ROOT) -> list[PageSpec]:
    """The pages whose file exists that this role may not open (a link to one, e.g. an admin page opened by
    a viewer, is answered with a message on the default page instead of a silent fallback)."""
    return [p for p in pages if role < p.min_role and (root / p.path).is_file()]


def default_page(pages: tuple[PageSpec, ...] = PAGES) -> PageSpec:
    return next(s for s in pages if s.default)


def refusal_message(spec: PageSpec, role: Role) -> str:
    """What a user is told when a link takes them to a page their role cannot open."""
    return (
        f"That page ({spec.title}) needs the {spec.min_role.name} role; you are signed in as {role.name}. "
        f"Here is the {default_page().title} instead."
    )


def sections(role: Role, pages: tuple[PageSpec, ...] = PAGES, root: Path = ROOT) -> dict[str, list[PageSpec]]:
    grouped: dict[str, list[PageSpec]] = {}
    for spec in visible_pages(role, pages, root):
        grouped.setdefault(spec.section, []).append(spec)
    return grouped


def title_with_badge(title: str, count: int | None) -> str:
    """A page title with its count badge, e.g. "Approvals (3)"; the plain title when there is nothing."""
    return f"{title} ({count:,})" if count else title


def badges(actor, engine) -> dict[str, int]:
    """Counts for the sidebar: the approval requests this user may still decide (approvers and up).
    A failure to count never breaks the navigation."""
    from services.governance import approvals

    try:
        return {"pages/approvals/page.py": approvals.count_awaiting(engine, actor)}
    except Exception:  # noqa: BLE001 - the badge is a convenience; the page shows the inbox anyway
        return {}


def navigation_pages(role: Role, counts: dict[str, int] | None = None, refuse=None):
    """The argument for st.navigation: {section: [st.Page, ...]}. `counts` maps a page path to a count
    shown next to its title (e.g. the approvals awaiting the user); the URL path stays the same.
    `refuse(spec)`, when given, makes the page run at the URL of each page this role may not open (hidden
    from the sidebar): without one, Streamlit would fall back to the default page without a word."""
    import streamlit as st

    counts = counts or {}
    out = {
        section: [
            st.Page(
                s.path,
                title=title_with_badge(s.title, counts.get(s.path)),
                icon=s.icon,
                url_path=s.url_path,
                default=s.default,
            )  # fmt: skip
            for s in specs
        ]
        for section, specs in sections(role).items()
    }
    for spec in refused_pages(role) if refuse is not None else []:
        section = spec.section if spec.section in out else next(iter(out))
        out[section].append(st.Page(refuse(spec), title=spec.title, url_path=spec.url_path, visibility="hidden"))
    return out


def signed_out_pages(sign_in):
    """The argument for st.navigation while nobody is signed in: the sign-in form at every page's URL.
    A deep link such as /feedback-queue?status=new keeps its address (no "Page not found", no redirect to
    the Overview), and after signing in the same run opens that page with its query parameters."""
    import streamlit as st

    default = default_page().url_path
    return [st.Page(sign_in, title="Sign in", url_path=u, default=u == default) for u in signed_out_url_paths()]


def signed_out_url_paths(pages: tuple[PageSpec, ...] = PAGES) -> list[str]:
    """Every url_path of every page, whatever its role or whether its file exists yet (a deep link must
    not tell a signed-out visitor which pages exist), plus /signin."""
    return [s.url_path for s in pages] + ["signin"]
