"""XSS payloads, generated here from the classic cheat-sheet families (no download).

Every payload, if it ever ran, would call `window.__xss(n)` (n: its number) or `alert(n)`;
the browser test installs `__xss` before the page loads and fails on any call or dialog.
Families: script tags, event handlers, javascript: URLs, SVG, MathML, attribute breakouts,
template/polyglot, CSS expressions, data: URLs, entity-encoded and case/encoding variants.
"""

from html import escape

CALL = "window.__xss({n})"

SCRIPT_TAGS = [
    "<script>{c}</script>",
    "<SCRIPT>{c}</SCRIPT>",
    "<ScRiPt>{c}</sCrIpT>",
    "<script src=data:text/javascript,{c}></script>",
    "<script>/*</script>*/{c}</script>",
    '<script type="module">{c}</script>',
    "<script\n>{c}</script\n>",
    "<<script>{c};//<</script>",
    "</title><script>{c}</script>",
    "</textarea><script>{c}</script>",
    "</style><script>{c}</script>",
    "</noscript><script>{c}</script>",
    "<script>alert({n})</script>",
]
EVENT_HANDLERS = [
    "<img src=x onerror={c}>",
    '<img src="x" onerror="{c}">',
    "<img/src/onerror={c}>",
    "<IMG SRC=x OnErRoR={c}>",
    "<svg onload={c}>",
    "<svg/onload={c}>",
    "<body onload={c}>",
    "<iframe onload={c}></iframe>",
    "<input autofocus onfocus={c}>",
    "<select autofocus onfocus={c}></select>",
    "<textarea autofocus onfocus={c}></textarea>",
    "<details open ontoggle={c}>",
    "<video><source onerror={c}></video>",
    "<audio src=x onerror={c}>",
    "<marquee onstart={c}>x</marquee>",
    "<div onmouseover={c}>hover</div>",
    "<object data=x onerror={c}></object>",
    "<img src=x:x onerror=alert({n})>",
    '<img src="x" onerror="&#119;indow.__xss({n})">',
    "<body onpageshow={c}>",
    "<style onload={c}></style>",
    "<link rel=stylesheet href=x onerror={c}>",
]
JAVASCRIPT_URLS = [
    '<a href="javascript:{c}">click</a>',
    '<a href="JaVaScRiPt:{c}">click</a>',
    '<a href=" javascript:{c}">click</a>',
    '<a href="java&#x09;script:{c}">click</a>',
    '<a href="&#106;avascript:{c}">click</a>',
    '<iframe src="javascript:{c}"></iframe>',
    '<form action="javascript:{c}"><button>go</button></form>',
    '<button formaction="javascript:{c}">go</button>',
    "javascript:{c}",
    '<embed src="javascript:{c}">',
    '<math><maction actiontype="statusline" xlink:href="javascript:{c}">x</maction></math>',
]
SVG_MATHML = [
    "<svg><script>{c}</script></svg>",
    "<svg><animate onbegin={c} attributeName=x dur=1s>",
    "<svg><a xlink:href=javascript:{c}><text x=20 y=20>x</text></a></svg>",
    "<svg><set attributeName=onmouseover to={c}></svg>",
    "<svg><foreignObject><iframe onload={c}></iframe></foreignObject></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror={c}></style></mglyph></table></mtext></math>",
    "<math href=javascript:{c}>x</math>",
    "<svg><style><img src=x onerror={c}></style></svg>",
    "<svg><title><script>{c}</script></title></svg>",
]
BREAKOUTS = [
    '"><script>{c}</script>',
    "'><script>{c}</script>",
    '" onmouseover="{c}" x="',
    "' onmouseover='{c}' x='",
    '"><img src=x onerror={c}>',
    "'><img src=x onerror={c}>",
    '" autofocus onfocus="{c}" x="',
    "</script><script>{c}</script>",
    '`-->"><svg onload={c}>',
    "--><script>{c}</script><!--",
    "]]><script>{c}</script>",
    "';{c};//",
    '";{c};//',
    "</dd><img src=x onerror={c}>",
    "</q><img src=x onerror={c}>",
]
TEMPLATES_POLYGLOTS = [
    "{{{{constructor.constructor('{c}')()}}}}",
    "${{{c}}}",
    "#{{{c}}}",
    "<%= {c} %>",
    "jaVasCript:/*-/*`/*\\`/*'/*\"/**/(/* */oNcliCk={c} )//%0D%0A%0d%0a//</stYle/</titLe/"
    "</teXtarEa/</scRipt/--!>\\x3csVg/<sVg/oNloAd={c}//>\\x3e",
    "<template><script>{c}</script></template>",
    '<noscript><p title="</noscript><img src=x onerror={c}>">',
    "<xmp><img src=x onerror={c}></xmp>",
    "<isindex type=image src=1 onerror={c}>",
    "<div v-html=\"'<img src=x onerror={c}>'\"></div>",
    "<a id=x tabindex=1 onfocusin={c}></a>",
]
CSS = [
    '<div style="background:url(javascript:{c})">x</div>',
    '<div style="width:expression({c})">x</div>',
    "<style>@import 'javascript:{c}';</style>",
    "<style>*{{background:url('javascript:{c}')}}</style>",
    '<link rel=stylesheet href="javascript:{c}">',
    '<div style="behavior:url(x.htc)" onclick={c}>x</div>',
    "<style>body{{-moz-binding:url(x#{c})}}</style>",
]
DATA_URLS = [
    '<a href="data:text/html,<script>{c}</script>">x</a>',
    '<iframe src="data:text/html,<script>parent.{c}</script>"></iframe>',
    '<object data="data:text/html,<script>{c}</script>"></object>',
    '<embed src="data:image/svg+xml,<svg onload={c}>">',
    '<img src="data:image/svg+xml,<svg onload={c}>">',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<iframe srcdoc="<script>parent.{c}</script>"></iframe>',
    '<meta http-equiv=refresh content="0;url=javascript:{c}">',
]

FAMILIES = {
    "script": SCRIPT_TAGS,
    "event": EVENT_HANDLERS,
    "javascript_url": JAVASCRIPT_URLS,
    "svg_mathml": SVG_MATHML,
    "breakout": BREAKOUTS,
    "template_polyglot": TEMPLATES_POLYGLOTS,
    "css": CSS,
    "data_url": DATA_URLS,
}


def _variants(template: str) -> list[str]:
    """The template as written, HTML-entity-encoded once, and URL-ish encoded."""
    return [
        template,
        escape(template, quote=True),  # entity-encoded: shown as markup text, must not be decoded twice
        template.replace("<", "%3C").replace(">", "%3E"),
    ]


def payloads() -> list[str]:
    """Every payload with its own number in its sentinel call (at least 200 of them)."""
    out = []
    for templates in FAMILIES.values():
        for template in templates:
            for variant in _variants(template):
                n = len(out)
                out.append(
                    variant.replace("{c}", CALL.format(n=n))
                    .replace("{n}", str(n))
                    .replace("{{", "{")
                    .replace("}}", "}")
                )
    return out


PAYLOADS = payloads()
assert len(PAYLOADS) >= 200, len(PAYLOADS)


# Link cases: bodies that hold (or pretend to hold) URLs and email addresses, for the renderers
# that make links clickable (the widget). A link may only ever be http:, https: or mailto:, its
# text the characters of the body, with no attribute but href, target and rel.
LINK_TEMPLATES = [
    'https://example.com/"><img src=x onerror={c}>',
    "https://example.com/'onmouseover='{c}'",
    'https://example.com/" onmouseover="{c}" x="',
    "javascript:{c}//https://example.com",
    "JaVaScRiPt:{c} https://ok.example",
    "java\tscript:{c} https://ok.example",
    "vbscript:{c} http://ok.example",
    "data:text/html,<script>{c}</script> https://ok.example",
    "https://javascript:{c}@example.com",
    "https://example.com/<svg/onload={c}>",
    "https://example.com/#<img src=x onerror={c}>",
    "https://example.com/?q=`${{{c}}}`",
    '<a href="https://example.com" onclick="{c}">click</a>',
    "mailto:x@example.com?subject=<script>{c}</script>",
    'x@example.com"onmouseover="{c}',
    "<x@example.com> <script>{c}</script>",
    "http://127.0.0.1:1/%22onmouseover={c}",
    "https://example.com/&lt;script&gt;{c}&lt;/script&gt;",
    "file:///etc/passwd https://ok.example/({c})",
    "https://\u202eelpmaxe.com/ {c}",
]


def link_payloads() -> list[str]:
    return [template.replace("{c}", CALL.format(n=1000 + i)).replace("{{", "{").replace("}}", "}")
            for i, template in enumerate(LINK_TEMPLATES)]  # fmt: skip


LINK_PAYLOADS = link_payloads()
