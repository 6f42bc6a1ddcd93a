"""Feedback themes of the demo scenario: what users write about, as templates with synonyms.

Each theme has its own vocabulary (so TF-IDF clustering can find it) and many ways of saying the
same thing (so the texts read like people, not like one sentence repeated). `compose()` turns a
theme into one text; the scenario keeps the true theme of every item next to it, never in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Theme:
    key: str
    label: str
    templates: tuple[str, ...]
    slots: dict[str, tuple[str, ...]]
    ratings: tuple[float, float, float, float, float]  # P(rating = 1..5)
    sources: dict[str, float]  # in-app / email / support


THEMES: dict[str, Theme] = {
    t.key: t
    for t in (
        Theme(
            key="mobile_app",
            label="Mobile app logs out, misses sessions and is slow since the update",
            templates=(
                "Since {update}, {app} {logout} {freq}.",
                "{App} has become {slow} since {update}.",
                "After {update} {sessions} even though I use {app} every day.",
                "{App} {logout} and {sessions}. This started with {update}.",
                "Screens take forever to load in {app} since {update}, it is {slow}.",
                "Why does {app} keep logging me out? That never happened before {update}.",
                "Ever since {update} {app} is {slow} and {sessions}.",
                "My dashboard says I barely use the product but I open {app} daily: {sessions} since {update}.",
                "Please fix {app}, it {logout} {freq} after {update}.",
                "{App} {logout} after {update} and everything is {slow}.",
                "I have to log in again {freq} on my phone since {update}.",
                "Usage stats look wrong on mobile: {sessions} since {update}.",
            ),
            slots={
                "app": (
                    "the app",
                    "the mobile app",
                    "the iOS app",
                    "the Android app",
                    "the app on my phone",
                    "the iPhone app",
                    "the app on my Android phone",
                ),
                "update": (
                    "the latest update",
                    "the last update",
                    "the new version",
                    "version 5.0",
                    "the September update",
                    "the recent app update",
                    "updating the app",
                ),
                "logout": ("logs me out", "keeps logging me out", "signs me out", "kicks me out", "logs me off"),
                "freq": (
                    "every few minutes",
                    "all the time",
                    "constantly",
                    "several times a day",
                    "whenever I switch apps",
                    "every time I lock my phone",
                ),
                "slow": ("really slow", "painfully slow", "sluggish", "so slow it is unusable", "laggy", "very slow"),
                "sessions": (
                    "my sessions are not counted",
                    "my activity is not tracked",
                    "the session counter is wrong",
                    "my weekly sessions show almost zero",
                    "the app does not count my sessions",
                    "half of my sessions are missing",
                ),
            },
            ratings=(0.45, 0.35, 0.12, 0.05, 0.03),
            sources={"in-app": 0.7, "email": 0.15, "support": 0.15},
        ),
        Theme(
            key="pricing",
            label="Price too high after the increase",
            templates=(
                "{Price} is {expensive} for what we get.",
                "After {increase} we are considering {competitor}.",
                "{Price} of {plan} is {expensive}, please offer a cheaper price for small teams.",
                "We cannot justify {increase}, our budget is tight this year.",
                "Is there a cheaper tier? {Price} of {plan} is {expensive}.",
                "Your pricing changed again and nobody told us about {increase}.",
                "We would stay if {plan} had a lower price after {increase}.",
                "Honestly {price} is {expensive} compared to {competitor}.",
                "{Increase} doubled our bill, {price} is {expensive} now.",
                "Thinking of cancelling: {price} of {plan} is {expensive} after {increase}.",
            ),
            slots={
                "price": ("the price", "the subscription price", "the monthly fee", "the pricing", "the new price"),
                "expensive": (
                    "too expensive",
                    "way too high",
                    "not worth the money",
                    "far too steep",
                    "hard to justify",
                    "too much money",
                ),
                "increase": (
                    "the price increase",
                    "the latest price hike",
                    "the 20% price increase",
                    "the new pricing",
                    "the price change",
                ),
                "competitor": (
                    "a cheaper competitor",
                    "a cheaper alternative",
                    "another tool that costs half as much",
                    "switching to a competitor",
                ),
                "plan": ("the Pro plan", "the annual plan", "our plan", "the Enterprise plan", "the subscription"),
            },
            ratings=(0.15, 0.35, 0.35, 0.12, 0.03),
            sources={"in-app": 0.35, "email": 0.45, "support": 0.2},
        ),
        Theme(
            key="false_churn_alert",
            label="Loyal customers wrongly flagged as churn risk",
            templates=(
                "{Customer} {flagged} but has been {loyal}.",
                "Wrong churn prediction: {customer} {flagged} although they renewed last month.",
                "The risk score is wrong, {customer} is {loyal} and very happy.",
                "False alarm again: {customer} {flagged} even though they are {loyal}.",
                "Why do loyal customers get a churn warning? {Customer} is {loyal}.",
                "The model keeps marking renewed accounts as at risk; {customer} {flagged}.",
                "Please stop sending retention offers to loyal accounts, {customer} {flagged} but is {loyal}.",
                "The churn score makes no sense for {customer}, they are {loyal}.",
                "{Customer} {flagged} right after signing a renewal, the prediction is wrong.",
            ),
            slots={
                "customer": (
                    "this customer",
                    "our client",
                    "the account",
                    "this account",
                    "a key customer",
                    "one of my accounts",
                ),
                "flagged": (
                    "was flagged as likely to churn",
                    "got a churn warning",
                    "shows up as high churn risk",
                    "was marked at risk of churning",
                    "triggered a churn alert",
                ),
                "loyal": (
                    "a customer of {years} years",
                    "a happy customer of many years",
                    "one of our most loyal accounts",
                    "a long-time customer who just renewed",
                    "on a multi-year contract",
                    "a loyal subscriber for years",
                ),
                "years": ("three", "four", "five", "six", "eight"),
            },
            ratings=(0.1, 0.3, 0.4, 0.15, 0.05),
            sources={"in-app": 0.15, "email": 0.35, "support": 0.5},
        ),
        Theme(
            key="support_response",
            label="Support takes days to answer",
            templates=(
                "{Ticket} has been open for {waited} without any answer from {support}.",
                "Waited {waited} for {support} to reply, that is not acceptable.",
                "{Support} never responds; {ticket} is still unanswered after {waited}.",
                "Nobody from {support} got back to me about {ticket}.",
                "Response times from {support} are terrible lately, {waited} for one reply.",
                "I had to chase {support} {times} before someone replied to {ticket}.",
                "Please escalate {ticket}, no reply from {support} in {waited}.",
                "{Support} closed {ticket} without answering my question.",
            ),
            slots={
                "ticket": ("my ticket", "my support ticket", "our request", "my case", "the ticket I opened"),
                "waited": ("three days", "a week", "over 48 hours", "five days", "two weeks"),
                "support": (
                    "support",
                    "customer support",
                    "the support team",
                    "your support agents",
                    "the service desk",
                ),
                "times": ("twice", "three times", "four times", "again and again"),
            },
            ratings=(0.35, 0.35, 0.2, 0.07, 0.03),
            sources={"in-app": 0.2, "email": 0.4, "support": 0.4},
        ),
        Theme(
            key="data_export",
            label="Data export fails or is missing",
            templates=(
                "{Export} {broken} when I try to download {data}.",
                "I cannot export {data}; {export} {broken} every time.",
                "We need an API or bulk export for {data}, {export} {broken}.",
                "Downloading {data} as CSV {broken} for large date ranges.",
                "{Export} {broken}. How do I get {data} out of your system?",
                "Please add an Excel export of {data}, and fix {export}, it {broken}.",
                "Exporting {data} to a spreadsheet {broken} since last week.",
            ),
            slots={
                "export": (
                    "the CSV export",
                    "the data export",
                    "the report export",
                    "the Excel export",
                    "the export button",
                ),
                "broken": ("fails", "times out", "is broken", "gives an empty file", "stops halfway", "hangs"),
                "data": (
                    "our data",
                    "the usage report",
                    "my invoices",
                    "the full history",
                    "customer lists",
                    "all records",
                ),
            },
            ratings=(0.15, 0.3, 0.35, 0.15, 0.05),
            sources={"in-app": 0.45, "email": 0.3, "support": 0.25},
        ),
        Theme(
            key="onboarding_docs",
            label="Onboarding and documentation are confusing",
            templates=(
                "{Docs} is {confusing}; {setup} took us hours.",
                "{Setup} was painful because {docs} is {confusing}.",
                "Onboarding is {confusing}, I could not figure out {setup}.",
                "Please improve {docs}, the section on {setup} is {confusing}.",
                "New user here: nothing in {docs} explains {setup}.",
                "Spent a whole afternoon on {setup}, a video walkthrough in {docs} would help.",
                "The getting started guide is {confusing} and {docs} skips {setup}.",
            ),
            slots={
                "docs": (
                    "the documentation",
                    "the developer guide",
                    "the knowledge base",
                    "the setup guide",
                    "the onboarding tutorial",
                ),
                "confusing": ("confusing", "outdated", "hard to follow", "missing steps", "unclear", "incomplete"),
                "setup": (
                    "setting up the integration",
                    "connecting our account",
                    "configuring the workspace",
                    "inviting colleagues to the workspace",
                    "the initial setup",
                    "the single sign-on setup",
                ),
            },
            ratings=(0.05, 0.2, 0.4, 0.25, 0.1),
            sources={"in-app": 0.5, "email": 0.3, "support": 0.2},
        ),
    )
}

# Before mobile app 5.0 (day 60) the few mobile complaints cannot name the September release.
BEFORE_RELEASE = {"mobile_app": {"update": ("the last update", "the recent app update", "updating the app")}}

OPENERS = ("", "", "", "", "Hi, ", "Hello, ", "Hey team, ", "Quick note: ", "FYI: ", "Hi there, ")
CLOSERS = (
    "",
    "",
    "",
    "",
    " Thanks.",
    " Please fix this.",
    " Otherwise I like the product.",
    " Very frustrating.",
    " Thank you!",
    " Any update would be appreciated.",
)
FIRST_NAMES = ("jane", "li", "omar", "sofia", "kenji", "maria", "tom", "aisha", "pedro", "nina")
LAST_NAMES = ("doe", "wang", "haddad", "rossi", "sato", "garcia", "miller", "khan", "silva", "berg")

_SLOT = re.compile(r"\{(\w+)\}")


def _fill(text: str, slots: dict[str, tuple[str, ...]], rng: np.random.Generator) -> str:
    def pick(match: re.Match) -> str:
        name = match.group(1)
        value = slots[name.lower()][rng.integers(len(slots[name.lower()]))]
        value = _fill(value, slots, rng)  # slots may nest ("a customer of {years} years")
        return value[:1].upper() + value[1:] if name[:1].isupper() else value

    return _SLOT.sub(pick, text)


def compose(theme: Theme, rng: np.random.Generator, overrides: dict[str, tuple[str, ...]] | None = None) -> str:
    """One natural-sounding text of `theme` (`overrides` replaces some slots' choices)."""
    slots = {**theme.slots, **overrides} if overrides else theme.slots
    body = _fill(theme.templates[rng.integers(len(theme.templates))], slots, rng)
    opener = OPENERS[rng.integers(len(OPENERS))]
    if opener:
        body = body if body.startswith("I ") else body[:1].lower() + body[1:]
        body = opener + body
    return body + CLOSERS[rng.integers(len(CLOSERS))]


def add_pii(text: str, rng: np.random.Generator) -> str:
    """Append an e-mail address or a phone number, as people do (the redaction must catch it)."""
    first, last = FIRST_NAMES[rng.integers(len(FIRST_NAMES))], LAST_NAMES[rng.integers(len(LAST_NAMES))]
    if rng.random() < 0.5:
        return f"{text} You can reach me at {first}.{last}@example.com."
    phone = ("+1 415 555 01{:02d}", "+44 20 7946 0{:03d}", "(212) 555-01{:02d}")[rng.integers(3)]
    return f"{text} Call me back on {phone.format(int(rng.integers(100)))}."


# What an iOS or an Android customer would not write: the other platform's app, in the words of the
# mobile_app theme's slots, and what they would write instead.
PLATFORM_WORDS = {
    "ios": (("app on my Android phone", "app on my iPhone"), ("Android app", "iOS app")),
    "android": (("iPhone app", "Android app"), ("iOS app", "Android app")),
}


def match_platform(text: str, platform: str | None) -> str:
    """The text with the other mobile platform's app replaced by this platform's (unchanged for web or
    no platform). Deterministic: it draws nothing, so the rest of the story stays the same."""
    for wrong, right in PLATFORM_WORDS.get(platform or "", ()):
        text = text.replace(wrong, right)
    return text


MARKUP_VARIANTS = (
    lambda t: f"<b>Urgent:</b> {t}",
    lambda t: f"{t} See [screenshot](http://example.com/screenshot.png).",
    lambda t: f"**Please read** {t}",
    lambda t: f"{t} <script>alert('hi')</script>",
    lambda t: f'{t} More details <a href="http://example.com">here</a>.',
    lambda t: f"# Complaint\n{t}\n- first time: yesterday\n- `still happening`",
)


def add_markup(text: str, variant: int) -> str:
    """Wrap a text in HTML or markdown (the app must show it as plain text, not render it)."""
    return MARKUP_VARIANTS[variant % len(MARKUP_VARIANTS)](text)
