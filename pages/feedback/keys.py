"""Every session-state key of the Feedback screen, in one place (values unchanged: tests and the browser
tests use them). A *_PREFIX is the start of a key made per item, theme, page or widget; its comment says
what follows it.
"""

# --- the page -----------------------------------------------------------------------------------
VIEW = "fb_view"  # the view switch: Queue, Review, Themes, Training sets
FILTER_PREFIX = "fb_"  # + a filter's URL parameter (filter_state.PARAMS), e.g. "fb_status", "fb_q"

# --- the filter bar -----------------------------------------------------------------------------
MY_QUEUE = "fb_my_queue"  # the "My queue" shortcut button
CLEAR_FILTERS = "fb_clear"  # the "Clear filters" button

# --- the queue ----------------------------------------------------------------------------------
GENERATION = "fb_editor_generation"  # bumped to drop the editor's edits and reload its rows
SNAPSHOT = "fb_snapshot"  # {"key": editor key, "rows": the rows as drawn}: pending edits keep these
SELECTED = "fb_selected"  # pks ticked in the Queue, for the Training sets view
EXPORT = "fb_export"  # the "Export CSV" download button
PAGE_PREFIX = "fb_page_"  # + hash of the filter: the queue's pagination
EDITOR_PREFIX = "fb_editor_"  # + "<filter hash>_<page>_<generation>": the queue's data editor (or table)
OPEN_PREFIX = "fb_open_"  # + the editor key: the "Open an item" picker under the table
SAVE_EDITS = "fb_save_edits"  # the "Save edits" button
DISCARD = "fb_discard"  # the "Discard edits" button

# --- the bulk bar -------------------------------------------------------------------------------
BULK_PREFIX = "fb_bulk_"  # + an editable column (editor_rows.EDITABLE): the bulk bar's "Set ..." choices
BULK_APPLY = "fb_bulk_apply"  # the "Apply to selected" button
SEL_BACKLOG_TITLE = "fb_sel_backlog_title"  # title of a backlog item made from the selected rows
SEL_BACKLOG_KIND = "fb_sel_backlog_kind"  # its kind
SEL_BACKLOG_CREATE = "fb_sel_backlog_create"  # its "Create" button

# --- review mode --------------------------------------------------------------------------------
REVIEW_ITEM = "fb_review_item"  # the pk of the item under review
REVIEW_PREV = "fb_rv_prev"  # the "Previous" button
REVIEW_NEXT = "fb_rv_next"  # the "Next" button
REVIEW_PREFIX = "fb_rv_"  # + "<item pk>_<version>", then one of the suffixes below
REVIEW_FORM = "_form"  # suffix: the review form of one item version
REVIEW_LABEL = "_label"  # suffix: its corrected-label radio
REVIEW_STATUS = "_status"  # suffix: its status select
REVIEW_CATEGORY = "_category"  # suffix: its category select
REVIEW_PRIORITY = "_priority"  # suffix: its priority select

# --- themes -------------------------------------------------------------------------------------
N_THEMES = "fb_n_themes"  # the "Number of themes" slider
RECLUSTER = "fb_recluster"  # the "Re-cluster themes" button
THEMES_TABLE = "fb_themes_table"  # the themes table
NEGATIVE_SHARE_CHART = "fb_negative_share"  # the negative-share chart
THEME_PICK = "fb_theme_pick"  # the theme whose volume and mix are shown
THEME_FREQ = "fb_theme_freq"  # volume by week or day
VOLUME_CHART = "fb_volume"  # the theme's volume chart
THEME_MIX_BY = "fb_theme_mix_by"  # mix by model version or a cohort field
MIX_CHART = "fb_mix"  # the theme's mix chart
THEME_TO_QUEUE = "fb_theme_to_queue"  # the "Show this theme in the queue" button
RENAME_FORM_PREFIX = "fb_rename_"  # + theme id: the rename form
THEME_BACKLOG_FORM_PREFIX = "fb_theme_backlog_"  # + theme id: the "Create backlog item" form

# --- training sets ------------------------------------------------------------------------------
DATASET_FORM = "fb_dataset"  # the new-version form (widgets.form_key adds a generation; fields add a suffix)
DATASET_NAME = "_name"  # suffix: its name field
DATASET_DESCRIPTION = "_description"  # suffix: its description field
DATASET_SOURCE = "_source"  # suffix: its eligible/selected choice
VERIFY_PREFIX = "fb_verify_"  # + training set id: its "Verify" button

# --- admin --------------------------------------------------------------------------------------
