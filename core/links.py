"""Links in chat messages: find them, judge them against `data/blocklist.yml`, vet the assistant's own.

`extract_urls` finds URLs written with a scheme, bare domains (`abc.xyz/path`), IP literals and
internationalised names, and normalises each host the way a browser would (percent-decoding, full-width
forms, IDNA/punycode, decimal and hex IPv4). `LinkPolicy.check` gives a `LinkVerdict`; the pipeline
refuses a message whose verdict is not `allowed`. The assistant never fetches a user's URL.
Nothing here raises on user input.
"""

from __future__ import annotations

import fnmatch
import functools
import ipaddress
import re
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

# Reason codes. Every one of them refuses the message except `suspicious_tld`, which is only reported.
BAD_SCHEME = "bad_scheme"
USERINFO = "userinfo"
INVALID_HOST = "invalid_host"
IP_LITERAL = "ip_literal"
BLOCKED_DOMAIN = "blocked_domain"
SHORTENER = "shortener"
LOOKALIKE = "lookalike"
SUSPICIOUS_TLD = "suspicious_tld"
REFUSING_REASONS = frozenset({BAD_SCHEME, USERINFO, INVALID_HOST, IP_LITERAL, BLOCKED_DOMAIN, SHORTENER,
                              LOOKALIKE})

DEFAULT_BAD_SCHEMES = frozenset({"javascript", "vbscript", "data", "file"})

_COUNTRY_TLDS = (
    "ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo bq br bs bt bw "
    "by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg er es et eu "
    "fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht hu id ie il "
    "im in io iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma "
    "mc md me mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om "
    "pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sk sl sm sn so sr "
    "ss st su sv sx sy sz tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug uk us uy uz va vc ve vg vi "
    "vn vu wf ws ye yt za zm zw"
)
_GENERIC_TLDS = (
    "com net org info biz edu gov mil int name pro mobi asia tel travel jobs aero coop museum cat post xxx "
    "app dev page site online store shop tech space website live life link click xyz top zip mov win bet "
    "vip club fun icu cyou sbs cfd bond buzz rest monster quest lol loan loans bid work news blog cloud "
    "digital email media network today world agency center company group solutions services support "
    "finance money cash credit bank casino games game one plus social chat zone wiki art design studio "
    "academy education school host press ltd inc llc global love sale best men party date stream download "
    "racing review science faith accountant cricket trade webcam country kim red gold tax health care run "
    "fit video photo pics tube film movie music radio example invalid test"
)
KNOWN_TLDS = frozenset((_COUNTRY_TLDS + " " + _GENERIC_TLDS).split())

# Text that ends a URL in chat: whitespace, quotes and the brackets people wrap links in.
_STOP = "\\s<>\"'`“”‘’«»「」『』【】"
_TRAILING = ".,;:!?…'\"”’»。、"
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_DOTS = re.compile("[\u3002\uff0e\uff61]")

_SCHEME_URL = re.compile(rf"(?i)(?<![\w+.\-])([a-z][a-z0-9+.\-]{{0,31}})://([^{_STOP}]*)")
# Schemes that do harm without any `//`: script in the link itself, or inline content.
_SCRIPT_URL = re.compile(rf"(?i)(?<![\w+.\-])(javascript|vbscript|livescript):([^{_STOP}]+)")
_DATA_URL = re.compile(rf"(?i)(?<![\w+.\-])(data):([a-z]+/[a-z0-9.+\-]+[;,][^{_STOP}]*)")
_BARE_IPV4 = re.compile(
    rf"(?<![\w.:/@])((?:\d{{1,3}}\.){{3}}\d{{1,3}})(?=:\d|/)((?::\d{{1,5}})?(?:[/?#][^{_STOP}]*)?)"
)
_BARE_HOST = re.compile(
    r"(?<![\w@.\-/:%#])"
    r"(?:(?P<userinfo>[\w.~%!$&*+,;=:\-]+)@)?"
    r"(?P<host>(?:[^\W_](?:[\w\-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,24}|xn--[a-z0-9\-]{1,59}))"
    r"(?![\w\-])"
    rf"(?P<port>:\d{{1,5}})?"
    rf"(?P<path>[/?#][^{_STOP}]*)?",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?i)^(?:0x[0-9a-f]*|[0-9]+)$")
_FORBIDDEN_HOST_CHARS = re.compile(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]")
_MAX_HOST = 1000


@dataclass(frozen=True, slots=True)
class FoundLink:
    text: str  # as written (NFC), trailing punctuation removed
    scheme: str  # lower-case; "" when written without one
    host: str  # ASCII form: punycode for names, canonical form for IPs; "" when there is none
    display_host: str  # Unicode form of `host`
    has_userinfo: bool
    is_ip: bool
    host_valid: bool  # False when a host was expected but no browser-readable host came out


@dataclass(frozen=True, slots=True)
class LinkVerdict:
    allowed: bool
    reasons: tuple[str, ...]
    links: tuple[FoundLink, ...]


@dataclass(frozen=True, slots=True)
class _Host:
    ascii: str
    display: str
    is_ip: bool
    valid: bool


_NO_HOST = _Host("", "", False, False)


# --- hosts ---------------------------------------------------------------------------------------------


def _ipv4_part(part: str) -> int | None:
    if len(part) > 20:
        return None
    try:
        if part[:2].lower() == "0x":
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part, 8)
        return int(part, 10)
    except ValueError:
        return None


def _parse_ipv4(labels: list[str]) -> str | None:
    """WHATWG IPv4 parsing, so `3232235777`, `0xC0A80101` and `0300.0250.1.1` all read as 192.168.1.1."""
    numbers = [_ipv4_part(label) for label in labels]
    if len(labels) > 4 or any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    if any(v > 255 for v in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        return None
    address = values[-1] + sum(v << (8 * (3 - i)) for i, v in enumerate(values[:-1]))
    return str(ipaddress.IPv4Address(address))


def _parse_ipv6(host: str) -> _Host:
    if not host.endswith("]"):
        return _NO_HOST
    try:
        address = ipaddress.IPv6Address(host[1:-1])
    except ValueError:
        return _NO_HOST
    literal = f"[{address.compressed}]"
    return _Host(literal, literal, True, True)


def _to_unicode(ascii_host: str) -> str | None:
    labels = []
    for label in ascii_host.split("."):
        if label.startswith("xn--"):
            try:
                label = label.encode("ascii").decode("idna")
            except (UnicodeError, ValueError, IndexError):
                return None
        labels.append(label)
    return ".".join(labels)


def _to_ascii(host: str) -> str | None:
    try:
        encoded = host.encode("idna").decode("ascii").lower()
    except (UnicodeError, ValueError, IndexError):
        return None
    return None if _FORBIDDEN_HOST_CHARS.search(encoded) else encoded


def _normalise_host(raw: str) -> _Host:
    """The host a browser would visit for `raw` (a host as written, port already removed)."""
    if len(raw) > _MAX_HOST:
        return _NO_HOST
    host = _DOTS.sub(".", unicodedata.normalize("NFKC", unquote(raw))).lower()
    if host.startswith("["):
        return _parse_ipv6(host)
    if host.endswith("."):
        host = host[:-1]
    labels = host.split(".")
    if not host or "" in labels:
        return _NO_HOST
    if _NUMBER.match(labels[-1]):
        address = _parse_ipv4(labels)
        return _Host(address, address, True, True) if address else _NO_HOST
    ascii_host = _to_ascii(host)
    display = _to_unicode(ascii_host) if ascii_host else None
    if not ascii_host or display is None:
        return _NO_HOST
    return _Host(ascii_host, display, False, True)


# --- extraction ----------------------------------------------------------------------------------------


def _strip_trailing(url: str) -> str:
    while url:
        last = url[-1]
        opener = _CLOSERS.get(last)
        if opener is not None and url.count(opener) >= url.count(last):
            break  # balanced, as in a Wikipedia link ending in ")"
        if opener is None and last not in _TRAILING:
            break
        url = url[:-1]
    return url


def _split_authority(rest: str) -> tuple[bool, str]:
    """(has userinfo, host) from what follows `scheme://`. Backslash ends the authority as in browsers."""
    end = len(rest)
    for stop in "/\\?#":
        index = rest.find(stop)
        if index != -1:
            end = min(end, index)
    _, at, hostport = rest[:end].rpartition("@")
    if hostport.startswith("["):
        close = hostport.find("]")
        return bool(at), hostport[: close + 1] if close != -1 else hostport
    return bool(at), hostport.split(":", 1)[0]


def _scheme_link(text: str, scheme: str, rest: str) -> FoundLink:
    has_userinfo, raw_host = _split_authority(rest)
    host = _normalise_host(raw_host)
    return FoundLink(text, scheme.lower(), host.ascii, host.display, has_userinfo, host.is_ip, host.valid)


def _is_abbreviation(host: str) -> bool:
    """Vietnamese abbreviations such as `TP.HCM`, `TP.HN`, `Q.BT` look like hosts but are not links."""
    return all(label.isupper() and len(label) <= 4 for label in host.split("."))


def _bare_link(match: re.Match[str], tlds: Collection[str]) -> tuple[FoundLink, int] | None:
    """A link written without a scheme, and where it ends, or None when it is ordinary text."""
    host, path, port = match["host"], match["path"] or "", match["port"] or ""
    labels = host.split(".")
    while labels and labels[-1].lower() not in tlds and not labels[-1].lower().startswith("xn--"):
        labels.pop()  # "abc.com.Tôi": the sentence went on after the link
        path = port = ""
    if len(labels) < 2:
        return None
    host = ".".join(labels)
    has_userinfo = match["userinfo"] is not None
    if has_userinfo and not path:
        return None  # an e-mail address
    if not (path or port or has_userinfo or host.lower().startswith("www.")) and _is_abbreviation(host):
        return None
    start = match.start("userinfo") if has_userinfo else match.start("host")
    text = _strip_trailing(match.string[start : match.start("host") + len(host) + len(port) + len(path)])
    normal = _normalise_host(host)
    if not normal.valid:
        return None  # no browser or chat app would open it, so it is just text
    link = FoundLink(text, "", normal.ascii, normal.display, has_userinfo, normal.is_ip, normal.valid)
    return link, start + len(text)


def _candidates(text: str, tlds: Collection[str]) -> Iterator[tuple[int, int, FoundLink]]:
    for pattern in (_SCRIPT_URL, _DATA_URL):
        for m in pattern.finditer(text):
            url = _strip_trailing(m.group(0))
            yield m.start(), m.start() + len(url), FoundLink(url, m[1].lower(), "", "", False, False, True)
    for m in _SCHEME_URL.finditer(text):
        url = _strip_trailing(m.group(0))
        yield m.start(), m.start() + len(url), _scheme_link(url, m[1], url[len(m[1]) + 3 :])
    for m in _BARE_IPV4.finditer(text):
        octets = m[1].split(".")
        if all(o == "0" or (not o.startswith("0") and int(o) <= 255) for o in octets):
            url = _strip_trailing(m.group(0))
            yield m.start(), m.start() + len(url), _scheme_link(url, "", url)
    for m in _BARE_HOST.finditer(text):
        found = _bare_link(m, tlds)
        if found is not None:
            link, end = found
            yield end - len(link.text), end, link


def extract_urls(text: str, *, extra_tlds: Iterable[str] = ()) -> list[FoundLink]:
    """Every URL-ish thing in a chat message, in order. Ordinary text, numbers, dates, codes and phone
    numbers give nothing."""
    tlds = KNOWN_TLDS | {t.lower() for t in extra_tlds}
    clean = unicodedata.normalize("NFC", text.translate(_INVISIBLE))
    occupied = bytearray(len(clean))  # earlier patterns win where two matches overlap
    taken: list[tuple[int, FoundLink]] = []
    for start, end, link in _candidates(clean, tlds):
        if end > start and occupied.find(1, start, end) == -1:
            occupied[start:end] = b"\x01" * (end - start)
            taken.append((start, link))
    return [link for _, link in sorted(taken, key=lambda item: item[0])]


# --- look-alikes ---------------------------------------------------------------------------------------

_CONFUSABLES = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l",
    "ь": "b", "г": "r", "п": "n", "ц": "u",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "ω": "w", "γ": "y",
    # Armenian and Latin look-alikes
    "ո": "n", "ս": "u", "օ": "o", "ı": "i", "ɑ": "a", "ɡ": "g", "đ": "d", "ð": "d", "ł": "l", "ø": "o",
    # digits and strokes read as letters
    "0": "o", "1": "l", "|": "l",
})
_CONFUSABLE_SCRIPTS = frozenset({"CYRILLIC", "GREEK", "ARMENIAN"})


@functools.lru_cache(maxsize=4096)
def skeleton(name: str) -> str:
    """A comparison key under which names that read alike are equal (`vietc0mbank`, `viettеl` with a
    Cyrillic е, `dịchvụcông` all fold to the key of the real name)."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name).casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).translate(_CONFUSABLES)
    folded = folded.replace("rn", "m").replace("vv", "w").replace("cl", "d")
    return folded.replace("i", "l")


def _script(ch: str) -> str:
    return unicodedata.name(ch, "").split(" ", 1)[0]


def _mixed_script(host: str) -> bool:
    """A label mixing Latin with Cyrillic, Greek or Armenian letters: a homoglyph trick, never a real name."""
    for label in host.split("."):
        scripts = {_script(ch) for ch in label if ch.isalpha()}
        if "LATIN" in scripts and scripts & _CONFUSABLE_SCRIPTS:
            return True
    return False


@functools.lru_cache(maxsize=1024)
def _label_windows(host: str, size: int) -> tuple[tuple[str, str], ...]:
    """The parts of `host` that could impersonate a protected name of `size` labels, with their skeletons."""
    return tuple((part, skeleton(part)) for part in dict.fromkeys(_windows(host, size)))


def _windows(host: str, size: int) -> Iterator[str]:
    labels = host.split(".")
    tokens = re.split(r"[.\-]", host)
    for parts in (labels, tokens):
        for i in range(len(parts) - size + 1):
            yield ".".join(parts[i : i + size])
    if size == 1:
        yield from (label.replace("-", "") for label in labels)
    else:
        joined = [label.replace("-", "") for label in labels]
        yield from (".".join(joined[i : i + size]) for i in range(len(joined) - size + 1))


def _under(host: str, domains: Iterable[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


@dataclass(frozen=True, slots=True)
class ProtectedName:
    """A name phishers imitate. `official`: the domains where it legitimately appears; when given, the
    name written exactly but anywhere else (`vietcombank-online.example`) is impersonation too."""

    name: str
    official: tuple[str, ...] = ()

    def impersonated_by(self, host: str, display: str) -> bool:
        if _under(host, self.official):
            return False
        key = skeleton(self.name)
        size = self.name.count(".") + 1
        return any(
            folded == key and (part != self.name or bool(self.official))
            for part, folded in _label_windows(display, size)
        )


# --- policy --------------------------------------------------------------------------------------------


def _domain(entry: object, where: str) -> str:
    if not isinstance(entry, str) or not entry.strip(". "):
        raise ValueError(f"blocklist: {where}: {entry!r} is not a domain")
    host = _normalise_host(entry.strip().strip("."))
    if not host.valid:
        raise ValueError(f"blocklist: {where}: {entry!r} is not a domain")
    return host.ascii


def _strings(data: Mapping[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"blocklist: {key} must be a list of strings")
    return value


def _domains(data: Mapping[str, Any], key: str) -> list[str]:
    return [_domain(entry, key) for entry in _strings(data, key)]


def _protected(data: Mapping[str, Any]) -> tuple[ProtectedName, ...]:
    names = []
    for entry in data.get("protected") or []:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise ValueError(f"blocklist: protected entry {entry!r} needs a name")
        name = entry["name"].strip().lower()
        official = [_domain(d, f"protected {name}") for d in entry.get("official") or []]
        if "." in name and not official:
            official = [_domain(name, "protected")]
        names.append(ProtectedName(name, tuple(official)))
    return tuple(names)


_KEYS = frozenset({"allowed", "bad_schemes", "blocked_domains", "blocked_patterns", "shorteners",
                   "suspicious_tlds", "protected"})


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    blocked_domains: frozenset[str] = frozenset()
    blocked_patterns: tuple[str, ...] = ()  # shell-style, on the whole host: "*nohu*"
    shorteners: frozenset[str] = frozenset()
    suspicious_tlds: frozenset[str] = frozenset()
    bad_schemes: frozenset[str] = DEFAULT_BAD_SCHEMES
    allowed: tuple[str, ...] = ()  # domains (and their subdomains) the assistant may link to
    protected: tuple[ProtectedName, ...] = ()

    @classmethod
    def load(cls, path: Path) -> LinkPolicy:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, Mapping):
            raise ValueError(f"blocklist: {path} is not a mapping")
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> LinkPolicy:
        unknown = set(data) - _KEYS
        if unknown:
            raise ValueError(f"blocklist: unknown keys {sorted(unknown)}")
        schemes = _strings(data, "bad_schemes")
        return cls(
            blocked_domains=frozenset(_domains(data, "blocked_domains")),
            blocked_patterns=tuple(p.lower() for p in _strings(data, "blocked_patterns")),
            shorteners=frozenset(_domains(data, "shorteners")),
            suspicious_tlds=frozenset(t.lower().strip(".") for t in _strings(data, "suspicious_tlds")),
            bad_schemes=frozenset(s.lower() for s in schemes) if schemes else DEFAULT_BAD_SCHEMES,
            allowed=tuple(_domains(data, "allowed")),
            protected=_protected(data),
        )

    def with_allowed(self, *hosts: str) -> LinkPolicy:
        """This policy plus the commune's own host(s), known only at runtime."""
        return replace(self, allowed=self.allowed + tuple(_domain(h, "allowed") for h in hosts))

    def _blocked(self, link: FoundLink) -> bool:
        if _under(link.host, self.blocked_domains):
            return True
        if _under(link.host, self.allowed):
            return False  # patterns such as "*dichvucong*" must not hit dichvucong.gov.vn itself
        forms = (link.host, skeleton(link.display_host))
        return any(fnmatch.fnmatchcase(form, p) or fnmatch.fnmatchcase(form, skeleton(p))
                   for p in self.blocked_patterns for form in forms)

    def _lookalike(self, link: FoundLink) -> bool:
        if _under(link.host, self.allowed):
            return False
        if _mixed_script(link.display_host):
            return True
        return any(p.impersonated_by(link.host, link.display_host) for p in self.protected)

    def link_reasons(self, link: FoundLink) -> tuple[str, ...]:
        """Why one link is suspect; empty when it is an ordinary link."""
        if link.scheme in self.bad_schemes:
            return (BAD_SCHEME,)
        reasons = [USERINFO] if link.has_userinfo else []
        if not link.host_valid:
            return (*reasons, INVALID_HOST)
        if link.is_ip:
            return (*reasons, IP_LITERAL)
        if self._blocked(link):
            reasons.append(BLOCKED_DOMAIN)
        if _under(link.host, self.shorteners):
            reasons.append(SHORTENER)
        if self._lookalike(link):
            reasons.append(LOOKALIKE)
        if link.host.rsplit(".", 1)[-1] in self.suspicious_tlds:
            reasons.append(SUSPICIOUS_TLD)
        return tuple(reasons)

    def check(self, text: str) -> LinkVerdict:
        links = tuple(extract_urls(text, extra_tlds=self.suspicious_tlds))
        reasons = tuple(dict.fromkeys(code for link in links for code in self.link_reasons(link)))
        return LinkVerdict(not REFUSING_REASONS.intersection(reasons), reasons, links)

    def is_allowed_outgoing(self, url: str, own_host: str | None = None) -> bool:
        """May the assistant put `url` in its own message: https, no tricks, and an allow-listed host
        (`.gov.vn`) or the commune's own host."""
        if not url.lower().startswith("https://") or any(ch.isspace() or not ch.isprintable() for ch in url):
            return False
        link = _scheme_link(url, "https", url[len("https://") :])
        if link.has_userinfo or not link.host_valid:
            return False
        if own_host and link.host == _normalise_host(_split_authority(own_host.split("://")[-1])[1]).ascii:
            return True
        return not link.is_ip and _under(link.host, self.allowed)
