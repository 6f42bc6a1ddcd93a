"""Every session-state key of the My account screen, in one place. The values are what tests use: never
change them."""

OWN_PASSWORD = "own_password"  # the change-my-password form (cleared on submit)
SIGN_OUT = "account_sign_out"  # "Sign out"
EMAIL_FORM = "account_email"  # the "E-mail me" form
EMAIL_EVENT_PREFIX = "account_email_"  # + event type: its checkbox (approval.requested, approval.decided)
