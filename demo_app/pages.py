"""The demo's HTML: one layout and one function per page, plain strings with every value escaped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["STYLESHEET", "CartLine", "ItemRow", "ItemView", "cart", "counter", "home", "layout", "session_item"]

STYLESHEET = """\
:root {
  --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f5f7fa;
  --accent: #2563eb; --accent-dark: #1d4ed8; --good: #0f766e; --bad: #b91c1c;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", sans-serif; }
a { color: var(--accent); }
header { background: #fff; border-bottom: 1px solid var(--line); }
/* One row on a desktop (a long name is cut short with an ellipsis); below 60rem the navigation takes a row of its
   own, and its links wrap on a phone, so no page is ever wider than the screen. */
.bar { max-width: 68rem; margin: 0 auto; padding: .8rem 1.5rem; display: flex; align-items: center;
  gap: .5rem 1.5rem; flex-wrap: wrap; }
.brand { flex: none; font-weight: 700; color: var(--ink); text-decoration: none; white-space: nowrap; }
nav { display: flex; flex-wrap: wrap; gap: .25rem 1.1rem; flex: 1 0 auto; }
nav a { color: var(--muted); text-decoration: none; padding: .2rem 0; border-bottom: 2px solid transparent;
  white-space: nowrap; }
nav a:hover { color: var(--ink); }
nav a[aria-current] { color: var(--ink); border-bottom-color: var(--accent); }
.account { display: flex; align-items: center; gap: .75rem; min-width: 0; color: var(--muted); font-size: .95rem; }
.account > span { min-width: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.account form { flex: none; }
.account strong { color: var(--ink); }
@media (max-width: 60rem) {
  .account { margin-left: auto; }
  nav { order: 1; flex: 1 1 100%; }
}
@media (min-width: 60.01rem) {
  .bar { flex-wrap: nowrap; }
}
main { max-width: 68rem; margin: 2.25rem auto; padding: 0 1.5rem; }
h1 { font-size: 1.75rem; line-height: 1.2; margin: 0 0 .5rem; }
h2 { font-size: 1.1rem; margin: 0 0 .75rem; }
.lead { color: var(--muted); margin: 0 0 1.75rem; max-width: 44rem; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 1.5rem;
  margin-bottom: 1.25rem; box-shadow: 0 1px 2px rgba(31, 41, 51, .04); }
.card > :first-child { margin-top: 0; }
.card > :last-child { margin-bottom: 0; }
.tiles { display: grid; grid-template-columns: repeat(3, 1fr); gap: 1.25rem; margin-bottom: 1.25rem; }
.tile { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 1.25rem 1.5rem;
  color: inherit; text-decoration: none; }
.tile:hover { border-color: var(--accent); }
.tile .number { display: block; font-size: 2.25rem; font-weight: 700; line-height: 1.1; }
.tile .label { color: var(--muted); }
.big { font-size: 4.5rem; font-weight: 700; line-height: 1; margin: .25rem 0 .75rem; }
.actions { display: flex; gap: .75rem 1.5rem; align-items: center; flex-wrap: wrap; }
form.inline { display: flex; gap: .75rem; align-items: flex-end; flex-wrap: wrap; margin: 0; }
label.check { flex-direction: row; gap: .4rem; align-items: center; font-weight: 400; padding-bottom: .55rem; }
label { display: flex; flex-direction: column; gap: .3rem; font-weight: 600; font-size: .9rem; }
input[type=text], input[type=password] { font: inherit; padding: .55rem .75rem; border: 1px solid #cbd2d9;
  border-radius: 8px; min-width: 16rem; }
input:focus { outline: 2px solid var(--accent); outline-offset: 1px; border-color: var(--accent); }
button { font: inherit; font-weight: 600; padding: .55rem 1.1rem; border-radius: 8px; cursor: pointer;
  border: 1px solid var(--accent); background: var(--accent); color: #fff; }
button:hover { background: var(--accent-dark); }
button.quiet { white-space: nowrap; background: #fff; color: var(--ink); border-color: #cbd2d9; padding: .3rem .8rem; }
button.quiet:hover { border-color: var(--ink); }
button.danger { background: #fff; color: var(--bad); border-color: #f1b5b5; }
ul.lines { list-style: none; margin: 0 0 1.25rem; padding: 0; }
ul.lines li { display: flex; align-items: center; gap: 1rem; padding: .6rem 0; border-bottom: 1px solid var(--line); }
ul.lines li:first-child { border-top: 1px solid var(--line); }
ul.lines .name { flex: 1; }
.qty { color: var(--muted); font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); }
.badge { background: var(--good); color: #fff; border-radius: 6px; padding: 0 .4rem; font-size: .8rem; }
.notice { background: #ecfdf5; border: 1px solid #a7f3d0; color: var(--good); border-radius: 10px;
  padding: .75rem 1rem; margin-bottom: 1.25rem; }
.error { background: #fef2f2; border: 1px solid #fecaca; color: var(--bad); border-radius: 10px;
  padding: .75rem 1rem; margin-bottom: 1.25rem; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: .6rem .75rem .6rem 0; border-bottom: 1px solid var(--line); }
th { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
td.type { color: var(--muted); width: 3.5rem; }
td time { white-space: nowrap; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace;
  font-size: .88rem; }
td code { word-break: break-all; }
pre { background: #0f172a; color: #e2e8f0; border-radius: 10px; padding: 1rem 1.25rem; margin: 0;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.hint { display: block; color: var(--muted); font-size: .85rem; overflow-wrap: anywhere; }
footer { max-width: 68rem; margin: 0 auto 2rem; padding: 0 1.5rem; color: var(--muted); font-size: .85rem; }
/* A phone: narrower margins, one tile per row, fields as wide as the screen. */
@media (max-width: 40rem) {
  .bar { padding: .6rem 1rem; }
  main { margin: 1.5rem auto; padding: 0 1rem; }
  footer { padding: 0 1rem; }
  h1 { font-size: 1.5rem; }
  .card { padding: 1rem; }
  .tiles { grid-template-columns: 1fr; gap: .6rem; }
  .tile { display: flex; align-items: baseline; gap: .75rem; padding: .6rem 1rem; }
  .tile .number { font-size: 1.6rem; }
  .big { font-size: 3.5rem; }
  form.inline > label:not(.check) { flex: 1 1 100%; }
  input[type=text], input[type=password] { min-width: 0; width: 100%; }
}
/* Below a tablet's width, tables become lists: a row of a "stack" table is a block, and one of a "cards" table a card
   of its own, each cell after its column's name. */
@media (max-width: 52rem) {
  table.stack, table.stack tbody, table.stack tr, table.stack td { display: block; }
  table.stack thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%);
    white-space: nowrap; }
  table.stack tr { padding: .6rem 0; border-bottom: 1px solid var(--line); }
  table.stack td { padding: 0; border: 0; }
  table.stack td.type { display: inline; margin-left: .5rem; }
  table.stack td:first-child { display: inline; }
  table.cards tr { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: .85rem 1rem;
    margin-bottom: .75rem; }
  table.cards td { padding: .15rem 0; }
  table.cards td:first-child { display: block; margin-bottom: .35rem; }
  table.cards td[data-label]::before { content: attr(data-label); display: inline-block; min-width: 6rem;
    color: var(--muted); font-size: .85rem; }
  table.cards td:last-child { padding-top: .5rem; }
  .card.list { background: none; border: 0; padding: 0; box-shadow: none; }
}
"""

_NAV = (
    ("/", "Home"),
    ("/counter", "Counter"),
    ("/cart", "Cart"),
    ("/session", "Session item"),
    ("/sessions", "Your sessions"),
)


@dataclass(frozen=True, slots=True)
class CartLine:
    """One line of the cart as the page shows it."""

    name: str
    quantity: int


@dataclass(frozen=True, slots=True)
class ItemRow:
    """One attribute of the stored DynamoDB item: its name, DynamoDB type, value and what it means."""

    name: str
    type: str
    value: str
    hint: str = ""


@dataclass(frozen=True, slots=True)
class ItemView:
    """The stored item as the session page shows it: its attributes, size in bytes, and its data as text (base64
    when ``sealed``, with ``opened``: the session it holds, as the application reads it with the cookie's token)."""

    rows: Sequence[ItemRow]
    size: int
    max_size: int
    data: str
    status: str
    sealed: bool = False
    opened: str = ""


def layout(title: str, body: str, *, path: str, user: str | None) -> str:
    """A page of the demo: its header (navigation, who is signed in), ``body``, and its footer."""
    return _layout(title, body, path=path, user=user)


def _layout(title: str, body: str, *, path: str, user: str | None) -> str:
    current = ' aria-current="page"'
    links = "".join(f'<a href="{href}"{current if href == path else ""}>{label}</a>' for href, label in _NAV)
    if user is None:
        account = '<span class="muted">Not signed in</span>'
    else:
        account = (
            f'<span title="Signed in as {escape(user)}">Signed in as <strong>{escape(user)}</strong></span>'
            '<form method="post" action="/sign-out"><button class="quiet" type="submit">Sign out</button></form>'
        )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · starlette-dynamo-session demo</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/style.css">
</head>
<body>
<header><div class="bar"><a class="brand" href="/">starlette-dynamo-session</a><nav>{links}</nav>
<div class="account">{account}</div></div></header>
<main>
{body}
</main>
<footer>Your browser holds only a signed, random token in an HttpOnly cookie.
Everything else lives in one DynamoDB item, keyed by a digest of that token.</footer>
</body>
</html>
"""


def banner(notice: str | None, error: str | None) -> str:
    """A page's notice (a status) and error (an alert), either of them optional."""
    parts = []
    if notice:
        parts.append(f'<div class="notice" role="status">{escape(notice)}</div>')
    if error:
        parts.append(f'<div class="error" role="alert">{escape(error)}</div>')
    return "".join(parts)


def _cart_lines(lines: Sequence[CartLine], *, removable: bool) -> str:
    if not lines:
        return '<p class="muted">Your cart is empty.</p>'
    rows = []
    for index, line in enumerate(lines):
        remove = (
            '<form method="post" action="/cart/remove">'
            f'<input type="hidden" name="index" value="{index}">'
            f'<button class="quiet" type="submit" aria-label="Remove {escape(line.name)}">Remove</button></form>'
            if removable
            else ""
        )
        rows.append(
            f'<li><span class="name">{escape(line.name)}</span><span class="qty">× {line.quantity}</span>{remove}</li>'
        )
    return f'<ul class="lines">{"".join(rows)}</ul>'


def home(
    *,
    user: str | None,
    visits: int,
    lines: Sequence[CartLine],
    keys: int,
    notice: str | None,
    error: str | None,
) -> str:
    """The home page: a sign-in form, or a summary of the signed-in user's session (which holds ``keys`` keys)."""
    items = sum(line.quantity for line in lines)
    tiles = f"""<div class="tiles">
<a class="tile" href="/counter"><span class="number">{visits}</span><span class="label">visits counted</span></a>
<a class="tile" href="/cart"><span class="number">{items}</span><span class="label">items in the cart</span></a>
<a class="tile" href="/session"><span class="number">{keys}</span>
<span class="label">keys in the session item</span></a>
</div>"""
    if user is None:
        body = f"""{banner(notice, error)}
<h1>Sessions stored in DynamoDB</h1>
<p class="lead">Sign in with any name. Signing in gives the session a new token: the old cookie stops working,
and whatever the session already held (visits, cart) comes along.</p>
<div class="card">
<h2>Sign in</h2>
<form class="inline" method="post" action="/sign-in">
<label>Your name <input type="text" name="name" maxlength="40" required autofocus autocomplete="off"></label>
<label class="check"><input type="checkbox" name="remember"> Remember me for 30 days</label>
<button type="submit">Sign in</button>
</form>
</div>
{tiles}"""
    else:
        body = f"""{banner(notice, error)}
<h1>Hello, {escape(user)}</h1>
<p class="lead">This page was built from your session, loaded from DynamoDB with one strongly consistent read.</p>
{tiles}
<div class="card">
<h2>Your cart</h2>
{_cart_lines(lines, removable=False)}
<a href="/cart">Change the cart</a>
</div>"""
    return _layout("Home", body, path="/", user=user)


def counter(*, user: str | None, visits: int) -> str:
    """The visit counter, which counts each time it is shown."""
    times = "time" if visits == 1 else "times"
    body = f"""<h1>Visit counter</h1>
<p class="lead">Each visit to this page adds one to <code>visits</code> in the session, and the middleware writes
the changed session back before the response starts.</p>
<div class="card">
<p class="big" id="visits">{visits}</p>
<p class="muted">You have seen this page {visits} {times} in this session. Reload to count another visit.</p>
</div>"""
    return _layout("Visit counter", body, path="/counter", user=user)


def cart(*, user: str | None, lines: Sequence[CartLine], error: str | None) -> str:
    """The cart: a list kept inside the session, changed in place."""
    body = f"""{banner(None, error)}
<h1>Cart</h1>
<p class="lead">The cart is a list of objects inside the session. Adding an item changes it in place, and the
middleware notices the nested change.</p>
<div class="card">
{_cart_lines(lines, removable=True)}
<form class="inline" method="post" action="/cart/add">
<label>Item <input type="text" name="item" maxlength="60" required autocomplete="off" placeholder="e.g. coffee"></label>
<button type="submit">Add to cart</button>
</form>
</div>"""
    return _layout("Cart", body, path="/cart", user=user)


def session_item(*, user: str | None, table: str, item: ItemView | None, missing: str) -> str:
    """The DynamoDB item behind the current session, attribute by attribute; ``missing`` says why there is none."""
    body = f"""<h1>Session item</h1>
<p class="lead">The item in table <code>{escape(table)}</code> behind your session, read straight from DynamoDB.
It is keyed by a SHA-256 digest of your token: the token itself is stored nowhere.</p>"""
    if item is None:
        body += f'<div class="card"><p id="missing">{escape(missing)}</p></div>'
        return _layout("Session item", body, path="/session", user=user)
    rows = []
    for row in item.rows:
        hint = f'<span class="hint">{escape(row.hint)}</span>' if row.hint else ""
        rows.append(
            f'<tr><td><code>{escape(row.name)}</code></td><td class="type">{escape(row.type)}</td>'
            f"<td><code>{escape(row.value)}</code>{hint}</td></tr>"
        )
    body += f"""<div class="card">
<p class="muted">{escape(item.status)} Item size: <strong id="size">{item.size:,}</strong> bytes
(DynamoDB's limit is {item.max_size:,}).</p>
<table class="stack">
<thead><tr><th>Attribute</th><th>Type</th><th>Value</th></tr></thead>
<tbody>{"".join(rows)}</tbody>
</table>
</div>
<div class="card">{_stored_data(item)}</div>
<form method="post" action="/sign-out"><button class="danger" type="submit">Destroy this session</button></form>"""
    return _layout("Session item", body, path="/session", user=user)


def _stored_data(item: ItemView) -> str:
    if not item.sealed:
        return f"""<h2>Stored data: the session as JSON</h2>
<pre id="data">{escape(item.data)}</pre>"""
    return f"""<h2>Stored data: sealed</h2>
<p id="sealed">The data attribute is encrypted and authenticated (AES-256-GCM, a fresh nonce on every write) under a
key derived from the token in your cookie, which the table never holds. A copy of the table, a backup or an export
shows only these bytes (base64), and they open under no other item's key.</p>
<pre id="data">{escape(item.data)}</pre>
<h2>Opened with your cookie's token: the session as JSON</h2>
<pre id="opened">{escape(item.opened)}</pre>"""
