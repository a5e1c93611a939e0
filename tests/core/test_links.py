from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import REPO_ROOT
from core.links import (
    BAD_SCHEME,
    BLOCKED_DOMAIN,
    INVALID_HOST,
    IP_LITERAL,
    LOOKALIKE,
    REFUSING_REASONS,
    SHORTENER,
    SUSPICIOUS_TLD,
    USERINFO,
    FoundLink,
    LinkPolicy,
    extract_urls,
    skeleton,
)

CYRILLIC_A = "\u0430"


@pytest.fixture(scope="module")
def policy() -> LinkPolicy:
    return LinkPolicy.load(REPO_ROOT / "data" / "blocklist.yml")


def hosts(text: str) -> list[str]:
    return [link.host for link in extract_urls(text)]


# --- extraction ----------------------------------------------------------------------------------------


def test_scheme_urls_are_found_with_their_hosts() -> None:
    links = extract_urls("Xem https://VnExpress.net/thoi-su-123.html và ftp://files.example.org/a.pdf nhé.")
    assert [(link.scheme, link.host, link.text) for link in links] == [
        ("https", "vnexpress.net", "https://VnExpress.net/thoi-su-123.html"),
        ("ftp", "files.example.org", "ftp://files.example.org/a.pdf"),
    ]


def test_bare_domains_are_found() -> None:
    assert hosts("vào abc.xyz/path hoặc www.example.com, hay Example.COM.vn") == [
        "abc.xyz", "www.example.com", "example.com.vn",
    ]
    assert extract_urls("vào abc.xyz/path?a=1#top đi")[0].text == "abc.xyz/path?a=1#top"
    assert extract_urls("www.example.com")[0].scheme == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(xem https://example.com/a).", "https://example.com/a"),
        ("https://example.com/a, https://x.org!", "https://example.com/a"),
        ("“https://example.com/trang”", "https://example.com/trang"),
        ("https://vi.wikipedia.org/wiki/Huế_(định_hướng)).", "https://vi.wikipedia.org/wiki/Huế_(định_hướng)"),
        ("Link: example.com/a...", "example.com/a"),
        ("<https://example.com/>", "https://example.com/"),
    ],
)
def test_trailing_punctuation_is_stripped(text: str, expected: str) -> None:
    assert extract_urls(text)[0].text == expected


@pytest.mark.parametrize(
    "text",
    [
        "Cho tôi hỏi thủ tục đăng ký khai sinh cho con ạ.",
        "Tôi mua 1.5kg gạo và 2,5 lít dầu.",
        "Ngày hẹn 15.10.2024 lúc 7.30 sáng, hoặc 15/10/2024.",
        "Mã hồ sơ của tôi là LB-2026-000123, mã khác LB-2025-000001.",
        "Số điện thoại 0912.345.678, 0912 345 678 hoặc +84 912 345 678.",
        "Lương 1.200.000.000 đồng/năm, phí 50.000đ.",
        "Tôi ở TP.HCM, em tôi ở TP.HN, nhà số 12 Q.BT.",
        "Xong rồi.Cảm ơn cán bộ.Chúc một ngày tốt lành!",
        "Email của tôi là nguyen.van.a@gmail.com nhé.",
        "Phiên bản v1.2.3 và mục 3.Hà Nội, điều 2.a.",
        "javascript: là ngôn ngữ gì vậy? data: dữ liệu",
    ],
)
def test_ordinary_vietnamese_text_has_no_links(text: str, policy: LinkPolicy) -> None:
    assert extract_urls(text) == []
    verdict = policy.check(text)
    assert verdict.allowed and verdict.reasons == ()


def test_internationalised_domain_becomes_punycode() -> None:
    [link] = extract_urls("http://hồsơ.vn/tra-cuu")
    assert link.host == "hồsơ.vn".encode("idna").decode()
    assert link.host.startswith("xn--") and link.display_host == "hồsơ.vn"


def test_full_width_and_percent_encoded_hosts_are_normalised() -> None:
    assert hosts("http://ＥＸＡＭＰＬＥ．com/ và http://%65xample.org/") == ["example.com", "example.org"]


def test_unencodable_host_is_invalid() -> None:
    [link] = extract_urls("http://" + "a" * 64 + ".com/")
    assert not link.host_valid and link.host == ""
    assert extract_urls("abc\u05e9\u05dc\u05d5\u05dd.com") == []  # not openable without a scheme: just text


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("http://1.2.3.4/", "1.2.3.4"),
        ("http://3232235777/", "192.168.1.1"),
        ("http://0xC0A80101/", "192.168.1.1"),
        ("http://0300.0250.1.1/", "192.168.1.1"),
        ("http://192.168.257/", "192.168.1.1"),
        ("http://１２７.０.０.１/", "127.0.0.1"),
        ("http://[::1]/", "[::1]"),
        ("https://[2001:db8:0:0::1]:8443/x", "[2001:db8::1]"),
        ("vào 10.0.0.1:8080/admin", "10.0.0.1"),
        ("vào 10.0.0.1/admin", "10.0.0.1"),
    ],
)
def test_ip_literals_in_every_form(text: str, address: str) -> None:
    [link] = extract_urls(text)
    assert link.is_ip and link.host == address


def test_userinfo_trick_reveals_the_real_host() -> None:
    [link] = extract_urls("Đăng nhập tại http://dichvucong.gov.vn@evil.example/login")
    assert link.has_userinfo and link.host == "evil.example"
    [bare] = extract_urls("gov.vn@evil.example/login")
    assert bare.has_userinfo and bare.host == "evil.example"


def test_backslash_ends_the_host_like_a_browser() -> None:
    [link] = extract_urls("http://evil.example\\@gov.vn/")
    assert link.host == "evil.example" and not link.has_userinfo


def test_zero_width_characters_do_not_hide_a_link() -> None:
    assert hosts("bit\u200b.ly/abc") == ["bit.ly"]


def test_script_and_data_urls_are_found() -> None:
    links = extract_urls("bấm javascript:alert(1) hoặc data:text/html;base64,PHNjcmlwdD4=")
    assert [(link.scheme, link.host) for link in links] == [("javascript", ""), ("data", "")]


# --- policy --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Vào https://bit.ly/3abcXYZ để nhận quà", SHORTENER),
        ("tinyurl.com/xa-so", SHORTENER),
        ("https://sub.cutt.ly/x", SHORTENER),
        ("http://1.2.3.4/login", IP_LITERAL),
        ("http://3232235777/", IP_LITERAL),
        ("http://[::1]/", IP_LITERAL),
        ("http://dichvucong.gov.vn@evil.example/", USERINFO),
        ("javascript:alert(document.cookie)", BAD_SCHEME),
        ("JavaScript:alert(1)", BAD_SCHEME),
        ("data:text/html,<b>hi</b>", BAD_SCHEME),
        ("file:///etc/passwd", BAD_SCHEME),
        ("https://vneid-gov-vn.com/cap-nhat", BLOCKED_DOMAIN),
        ("https://login.vneid-gov-vn.com/", BLOCKED_DOMAIN),
        ("https://nohu88.example/", BLOCKED_DOMAIN),
        ("https://dichvucongtructuyen.example/", BLOCKED_DOMAIN),
        ("http://" + "a" * 64 + ".com/", INVALID_HOST),
        ("https://", INVALID_HOST),
        ("https://vietc0mbank.com/", LOOKALIKE),
        ("https://agribank-khuyenmai.example/", LOOKALIKE),
        ("https://viettel-online.example/", LOOKALIKE),
        ("https://dichvucong.gov.vn.evil.example/", LOOKALIKE),
        ("https://zalo.me.example.com/", LOOKALIKE),
        ("https://teIegram.org/", LOOKALIKE),
        ("https://vietcornbank.com.vn/", LOOKALIKE),
    ],
)
def test_each_refusing_reason(text: str, reason: str, policy: LinkPolicy) -> None:
    verdict = policy.check(text)
    assert reason in verdict.reasons
    assert not verdict.allowed


def test_punycode_lookalike_with_cyrillic_letter(policy: LinkPolicy) -> None:
    fake = f"vietcomb{CYRILLIC_A}nk"
    punycode = fake.encode("idna").decode()
    assert punycode.startswith("xn--")
    for text in (f"https://{punycode}.com.vn/login", f"https://{fake}.com.vn/login", f"{punycode}.com/x"):
        verdict = policy.check(text)
        assert LOOKALIKE in verdict.reasons and not verdict.allowed, text


def test_cyrillic_lookalike_of_a_government_domain(policy: LinkPolicy) -> None:
    fake = "dichvuc\u043eng.g\u043ev.vn.example".encode("idna").decode()  # Cyrillic о twice
    assert LOOKALIKE in policy.check(f"http://{fake}/").reasons


def test_mixed_script_label_is_a_lookalike_even_when_not_protected(policy: LinkPolicy) -> None:
    verdict = policy.check(f"https://p{CYRILLIC_A}ypal.example/")
    assert verdict.reasons == (LOOKALIKE,)


def test_vietnamese_diacritics_in_a_protected_name_are_a_lookalike(policy: LinkPolicy) -> None:
    assert LOOKALIKE in policy.check("http://viettél.vn/").reasons


@pytest.mark.parametrize(
    "text",
    [
        "Đọc tin https://vnexpress.net/ubnd-xa-thong-bao-123.html",
        "https://dichvucong.gov.vn/p/home/dvc-trang-chu.html",
        "https://vneid.gov.vn/",
        "https://www.vietcombank.com.vn/vi-VN/KHCN",
        "https://ebanking.agribank.com.vn/",
        "https://viettel.vn/goi-cuoc",
        "t.me/xa_so_bot",
        "https://zalo.me/1234567890",
        "https://web.telegram.org/",
        "https://hanoi.gov.vn/tin-tuc",
        "https://www.example.com/a?b=c",
        "http://hồsơ.vn/",
        "https://xn--hs-3ya8001a.vn/",
        "https://vi.wikipedia.org/wiki/Việt_Nam",
        "https://baomoi.com/viettel-ra-mat-goi-cuoc-moi.html",
    ],
)
def test_ordinary_links_pass(text: str, policy: LinkPolicy) -> None:
    verdict = policy.check(text)
    assert verdict.allowed, verdict.reasons
    assert verdict.reasons == ()


def test_suspicious_tld_is_reported_but_not_refused(policy: LinkPolicy) -> None:
    verdict = policy.check("Xem abc.xyz/path nhé")
    assert verdict.allowed and verdict.reasons == (SUSPICIOUS_TLD,)
    assert SUSPICIOUS_TLD not in REFUSING_REASONS


def test_verdict_lists_every_link_and_each_reason_once(policy: LinkPolicy) -> None:
    verdict = policy.check("bit.ly/a rồi tinyurl.com/b và https://example.com/")
    assert [link.host for link in verdict.links] == ["bit.ly", "tinyurl.com", "example.com"]
    assert verdict.reasons == (SHORTENER,)
    assert policy.link_reasons(verdict.links[2]) == ()


def test_text_without_links(policy: LinkPolicy) -> None:
    verdict = policy.check("Xin chào")
    assert verdict.allowed and verdict.links == () and verdict.reasons == ()


# --- outgoing links ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://dichvucong.gov.vn/p/home", True),
        ("https://xa-an-binh.hanoi.gov.vn/", True),
        ("https://xa.example.vn/verify/AB12", True),
        ("https://XA.example.vn:8443/", True),
        ("http://dichvucong.gov.vn/", False),
        ("https://gov.vn@evil.example/", False),
        ("https://dichvucong.gov.vn.evil.example/", False),
        ("https://evil.example/", False),
        ("https://sub.xa.example.vn/", False),
        ("https://1.2.3.4/", False),
        ("javascript:alert(1)", False),
        ("https://dichvucong.gov.vn/ x", False),
        ("https://evil.example\\@dichvucong.gov.vn/", False),
        ("", False),
    ],
)
def test_outgoing_links(url: str, allowed: bool, policy: LinkPolicy) -> None:
    assert policy.is_allowed_outgoing(url, "xa.example.vn") is allowed


def test_own_host_can_be_added_to_the_policy(policy: LinkPolicy) -> None:
    assert not policy.is_allowed_outgoing("https://xa.example.vn/")
    assert policy.with_allowed("xa.example.vn").is_allowed_outgoing("https://xa.example.vn/")
    assert policy.is_allowed_outgoing("https://xa.example.vn/", "https://xa.example.vn")


# --- loading -------------------------------------------------------------------------------------------


def test_shipped_blocklist_has_the_expected_sections(policy: LinkPolicy) -> None:
    assert {"bit.ly", "tinyurl.com", "t.ly", "goo.gl", "is.gd", "cutt.ly", "shorturl.at", "rb.gy"} <= (
        policy.shorteners
    )
    assert {"top", "xyz", "click", "zip", "mov"} <= policy.suspicious_tlds
    assert "gov.vn" in policy.allowed
    assert {"gov.vn", "dichvucong.gov.vn", "vnpt", "viettel", "vietcombank", "agribank", "zalo.me",
            "telegram.org"} <= {p.name for p in policy.protected}
    assert {"javascript", "data", "file"} <= policy.bad_schemes


def test_small_policy_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "blocklist.yml"
    path.write_text(
        "blocked_domains: [Bad.Example]\nshorteners: [s.example]\nprotected:\n  - name: mybank\n",
        encoding="utf-8",
    )
    policy = LinkPolicy.load(path)
    assert policy.check("x.bad.example/a").reasons == (BLOCKED_DOMAIN,)
    assert policy.check("https://s.example/x").reasons == (SHORTENER,)
    assert policy.check("https://mybank.example/").allowed  # no official domain given: exact name passes
    assert policy.check("https://myb4nk.example/").allowed
    assert policy.check("https://rnybank.example/").reasons == (LOOKALIKE,)
    assert policy.bad_schemes >= {"javascript"}  # default when the file has none


@pytest.mark.parametrize(
    "content",
    [
        "nonsense: [a]\n",
        "shorteners: bit.ly\n",
        "blocked_domains: ['http://a b']\n",
        "protected: [{}]\n",
        "- a\n",
    ],
)
def test_bad_blocklist_is_refused_at_load(content: str, tmp_path: Path) -> None:
    path = tmp_path / "blocklist.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="blocklist"):
        LinkPolicy.load(path)


def test_skeleton_folds_homoglyphs() -> None:
    assert skeleton("vietc0mbank") == skeleton("vietcombank") == skeleton(f"vietcomb{CYRILLIC_A}nk")
    assert skeleton("vietcornbank") == skeleton("vietcombank")
    assert skeleton("agr1bank") == skeleton("agribank") == skeleton("AGRIBANK")
    assert skeleton("viettel") != skeleton("vietel")


# --- never raises --------------------------------------------------------------------------------------

URL_PIECES = [*"abcxyz019.:/@[]%#?-_\\ \u0430\u043eđơ。ｘ", "http://", "xn--", ".com", ".vn", "0x", "www."]
URLISH = st.lists(st.sampled_from(URL_PIECES), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=200), URLISH))
def test_check_never_raises(text: str, policy: LinkPolicy) -> None:
    verdict = policy.check(text)
    assert all(isinstance(link, FoundLink) for link in verdict.links)
    assert verdict.allowed == (not REFUSING_REASONS.intersection(verdict.reasons))


@settings(max_examples=200, deadline=None)
@given(url=st.one_of(st.text(max_size=100), URLISH.map(lambda s: "https://" + s)), own=st.text(max_size=30))
def test_outgoing_check_never_raises(url: str, own: str, policy: LinkPolicy) -> None:
    assert policy.is_allowed_outgoing(url, own) in (True, False)


def test_long_hostile_text_is_fast(policy: LinkPolicy) -> None:
    texts = ["a." * 5000, ("a" * 62 + ".") * 150, "http://" * 1500, "a.com " * 1500, "1." * 5000]
    started = time.perf_counter()
    for text in texts:
        policy.check(text)
    assert time.perf_counter() - started < 2.0
