"""Every session-state key of the Admin screen, in one place. A name with a prefix comment is the start of
a dynamic key. The values are what tests use: never change them.

The two forms are named through widgets.form_key (NAME_<n>, a new n after each success, so the form
starts empty); each field's key is that form key plus a suffix below, e.g. add_user_0_email."""

USERS = "admin_users"  # the users table

# Add a user
ADD_USER = "add_user"  # the form's name
EMAIL = "_email"  # field suffix: e-mail
NAME = "_name"  # field suffix: name
ROLE = "_role"  # field suffix: role
SSO = "_sso"  # field suffix: SSO only
PASSWORD = "_password"  # field suffix: the password (also in the reset form)

# Change an account
ACCOUNT = "admin_account"  # the account picked
ACCOUNT_ROLE = "admin_role_"  # + user id: its new role
CHANGE_ROLE = "admin_change_role"  # "Change role"
ENABLE = "admin_enable"  # "Enable"
DISABLE = "admin_disable"  # "Disable ..." (opens the confirmation)
UNLOCK = "admin_unlock"  # "Unlock"
RESET_PASSWORD = "reset_password"  # the reset-password form's name
CONFIRM_DISABLE = "admin_confirm_disable"  # (user id, e-mail) while the disable confirmation is open
DISABLE_CONFIRM = "admin_disable_confirm"  # "Disable" in the confirmation
DISABLE_CANCEL = "admin_disable_cancel"  # "Cancel" in the confirmation

# API tokens (pages/admin/tokens.py)
TOKEN_SECRET = "admin_tokens_secret"  # (name, secret) of the token just created, shown once
TOKEN_SECRET_DONE = "admin_tokens_secret_done"  # the "I have copied it" button
TOKEN_FORM = "admin_tokens_create"  # the create form (widgets.form_key adds a generation)
TOKEN_SCOPES = "_scopes"  # field suffix: scopes
TOKEN_MODELS = "_models"  # field suffix: the models the token is limited to
TOKEN_DAYS = "_days"  # field suffix: days until it expires
TOKEN_TABLE = "admin_tokens_table"  # the tokens table
TOKEN_LIST = "admin_tokens_list"  # the container around it (tests find the table by its st-key class)
TOKEN_REVOKE = "admin_tokens_revoke"  # the token picked for revoking
TOKEN_REVOKE_BUTTON = "admin_tokens_revoke_button"  # the Revoke button

# Sign-in: waits after failed sign-ins and session limits (pages/admin/sign_in.py)
WAITS = "admin_signin_waits"  # the table of accounts that wait after failed sign-ins
WAIT_PICK = "admin_signin_wait_pick"  # the waiting account picked for unlocking
WAIT_UNLOCK = "admin_signin_wait_unlock"  # the "Unlock" button next to it
SESSION_LIMITS = "admin_session_limits"  # the session-limits form (widgets.form_key adds a generation)
IDLE_HOURS = "_idle_hours"  # field suffix: idle timeout in hours
MAX_HOURS = "_max_hours"  # field suffix: absolute session lifetime in hours

# Retention and erasure (pages/admin/erasure.py)
RETENTION_TABLE = "admin_retention_table"  # the retention policies
RETENTION_FORM = "admin_retention"  # the set-retention form (widgets.form_key adds a generation)
RETENTION_MODEL = "_model"  # field suffix: the model
RETENTION_DAYS = "_days"  # field suffix: days to keep
RETENTION_RUN = "admin_retention_run"  # "Purge now"
ERASE_ID = "admin_erase_id"  # the request id to erase
ERASE_REASON = "admin_erase_reason"  # why (audited)
ERASE = "admin_erase"  # "Erase ..." (opens the confirmation)
CONFIRM_ERASE = "admin_confirm_erase"  # (request id, reason) while the confirmation is open
ERASE_CONFIRM = "admin_erase_confirm"  # "Erase for good" in the confirmation
ERASE_CANCEL = "admin_erase_cancel"  # "Cancel" in the confirmation
