"""Every session-state key of the Experiments screen, in one place. A name with a prefix comment is the
start of a dynamic key (prefix + an id or an experiment key). The values are what tests use: never
change them."""

# The screen
VIEW = "exp_view"  # the view switcher: Experiments, Design, Register, Read
SELECTED = "exp_selected"  # the experiment key shared by the Experiments and Read views
GOTO = "exp_goto"  # (view, experiment key) asked for during a run, applied before the next run draws widgets
PREFILL = "exp_prefill"  # the design handed from the Design view to the Register form

# Design view
D_TYPE = "exp_d_type"  # metric type
D_RATE = "exp_d_rate"  # baseline rate (conversion)
D_MEAN = "exp_d_mean"  # baseline mean
D_SD = "exp_d_sd"  # standard deviation
D_MDE_TYPE = "exp_d_mde_type"  # relative or absolute MDE
D_MDE = "exp_d_mde_"  # prefix + MDE type: the MDE (one field per type, so each keeps its value)
D_ALPHA = "exp_d_alpha"  # alpha
D_POWER = "exp_d_power"  # power
D_VARIANTS = "exp_d_variants"  # number of variants
D_SPLIT = "exp_d_split"  # traffic split
D_DAILY = "exp_d_daily"  # daily traffic
D_N = "exp_d_n"  # units per control arm for the MDE-for-a-sample question
D_POWER_FIG = "exp_d_power_fig"  # the power curve
D_N_FIG = "exp_d_n_fig"  # the sample-size curve
D_USE = "exp_d_use"  # "Register an experiment with this design"

# Register view (every key of its form starts with REGISTER_FIELDS; they are cleared when a design is taken over)
REGISTER_FIELDS = "exp_r_"  # prefix of every register-form key below
R_N = "exp_r_n"  # number of variants
REGISTER_FORM = "exp_register"  # the form
R_KEY = "exp_r_key"  # experiment key
R_NAME = "exp_r_name"  # name
R_HYPOTHESIS = "exp_r_hypothesis"  # hypothesis
R_VKEY = "exp_r_vkey_"  # prefix + variant index: the variant's key
R_VMODEL = "exp_r_vmodel_"  # prefix + variant index: its model version
R_VSHARE = "exp_r_vshare_"  # prefix + variant index: its traffic share
R_PRIMARY = "exp_r_primary"  # primary metric
R_TYPE = "exp_r_type"  # primary metric type
R_SECONDARY = "exp_r_secondary"  # secondary metrics
R_BAD_UP = "exp_r_bad_up"  # guardrails bad if they go up
R_BAD_DOWN = "exp_r_bad_down"  # guardrails bad if they go down
R_MDE = "exp_r_mde"  # MDE
R_ALPHA = "exp_r_alpha"  # alpha
R_POWER = "exp_r_power"  # power
R_PLANNED = "exp_r_planned"  # planned units per arm
R_RULE = "exp_r_rule"  # stopping rule
R_START = "exp_r_start"  # planned start

# Experiments view (the list and one experiment)
LIST = "exp_list"  # the experiments table
PICK_MANAGE = "exp_pick_manage"  # the experiment shown
DESIGN_TABLE = "exp_design_table"  # its design
VAR_TABLE = "exp_var_table"  # its variants
BACKLOG = "exp_"  # prefix + experiment id: app/backlog_form's key for a follow-up item
TO_READ = "exp_to_read"  # "Read the results"
HISTORY = "exp_history"  # its audit history
START = "exp_start"  # "Start the experiment"
EDIT = "exp_edit"  # the draft's design form: EDIT + "_" + experiment key, its fields EDIT + a suffix below
AMEND = "exp_amend"  # the amendment form of a started experiment: the same layout as EDIT
F_HYP = "_hyp_"  # design form suffix + experiment key: hypothesis
F_SEC = "_sec_"  # secondary metrics
F_PRI = "_pri_"  # primary metric
F_UP = "_up_"  # guardrails bad if they go up
F_DOWN = "_down_"  # guardrails bad if they go down
F_N = "_n_"  # planned units per arm
F_MDE = "_mde_"  # MDE
F_RULE = "_rule_"  # stopping rule
F_WHY = "_why_"  # reason for the amendment
RESUME = "exp_resume_"  # prefix + experiment key: the resume form
RESUME_WHY = "exp_resume_why_"  # prefix + experiment key: why it is safe to continue
CONCLUDE = "exp_conclude_"  # prefix + experiment key: the conclude form
OUTCOME = "exp_outcome_"  # prefix + experiment key: the decision
RATIONALE = "exp_rationale_"  # prefix + experiment key: its rationale

# Read view
PICK_READ = "exp_pick_read"  # the experiment read
READING = "exp_reading"  # frequentist, sequential, bayesian or cuped
SCALE = "exp_scale"  # relative or absolute lift
CORRECTION = "exp_correction"  # multiple-testing correction
PRIOR_ON = "exp_prior_on"  # proper prior (Bayesian)
PRIOR_MEAN = "exp_prior_mean"  # its mean
PRIOR_SD = "exp_prior_sd"  # its sd
SEGMENT_BY = "exp_segment_by"  # the cohort field to segment by
SEGMENT = "exp_segment"  # the segment shown
LIFT_FIG = "exp_lift_fig"  # the lift chart
RESULTS_TABLE = "exp_results_table"  # the results table
CUPED_FIG = "exp_cuped_fig"  # the CUPED chart
SEG_METRIC = "exp_seg_metric"  # the metric across segments
SEG_TABLE = "exp_seg_table"  # its table
STOP_EXEC = "exp_stop_exec"  # "Stop the experiment" (an approved stop request)
STOP = "exp_stop_"  # prefix + experiment key: the stop-request form
STOP_WHY = "exp_stop_why_"  # prefix + experiment key: why stop
BANDIT_FIG = "exp_bandit_fig"  # the bandit recommendation chart
BANDIT_TABLE = "exp_bandit_table"  # its table
BANDIT_HISTORY = "exp_bandit_history"  # "Show the recommended allocation over time"
BANDIT_HIST_FIG = "exp_bandit_hist_fig"  # that chart
CSV = "exp_csv"  # results download
HTML = "exp_html"  # charts download (HTML)
PNG = "exp_png"  # charts download (PNG zip)
REPORT = "exp_report"  # the readout as one shareable HTML file (download)
