"""Every session-state key of the Notifications screen, in one place."""

CHANNELS = "ntf_channels"  # the table of channels
KIND = "ntf_kind"  # the add form: webhook or apprise
URL = "ntf_url"  # the add form: the URL
SECRET = "ntf_secret"  # the add form: the webhook's secret (never shown again)
EVENTS = "ntf_events"  # the add form: subscribed events
PRIVATE = "ntf_private"  # the add form: allow private addresses
ADD = "ntf_add"  # the add button
CHANNEL = "ntf_channel"  # the channel picked for test / pause / resume / remove
TEST = "ntf_test"  # send a test event
TOGGLE = "ntf_toggle"  # pause or resume
REMOVE = "ntf_remove"  # remove
LOG = "ntf_log"  # the delivery log table
REPLAY_ID = "ntf_replay_id"  # the delivery to replay
REPLAY = "ntf_replay"  # the replay button
