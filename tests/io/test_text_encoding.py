"""Which encoding a text export is read in: UTF-8, Windows-1252 (European testers and
spreadsheets) or GB18030 (Chinese testers) — the rule shared by tester files and user tables."""

from __future__ import annotations

import pytest

from echelon.io.table import decode_table
from echelon.io.text import decode_head

CHINESE = [
    "电压(V),电流(mA),温度,循环序号,工步类型\n1,2,3,4,5\n",
    "数据序号,循环号,工步号,工步类型,时间,总时间,电流(A),电压(V),容量(Ah)\n",
    "记录序号,状态,跳转,循环,步次,电流(mA),电压(V),容量(mAh),能量(mWh),相对时间(h:min:s.ms)\n",
    "記錄序號,電壓(V),電流(mA)\n",  # traditional characters in GBK (trail bytes 80–A0)
]
EUROPEAN = [
    "battery_id;Größe;Temperature/°C\nA;Müller;Süß\n",  # two accented letters side by side
    "Posição;Tensão (V);Informação\n",
    "Numéro;Capacité;Température (°C)\n",
    "time/s\tEwe/V\t<I>/mA\tTemperature/°C\tµA\n",
    "ÄÖÜ äöü ß\n",
]


@pytest.mark.parametrize("text", CHINESE)
def test_chinese_exports_are_gb18030(text: str) -> None:
    data = text.encode("gbk")
    assert decode_head(data) == (text, "gb18030")
    assert decode_table(data) == text


@pytest.mark.parametrize("text", EUROPEAN)
def test_european_exports_are_windows_1252(text: str) -> None:
    data = text.encode("cp1252")
    assert decode_head(data) == (text, "cp1252")
    assert decode_table(data) == text


def test_a_utf8_character_cut_by_the_head_is_still_utf8() -> None:
    head = b"x" * 65535 + "°".encode()[:1]  # the sniffed head ends inside a UTF-8 '°'
    assert decode_head(head) == ("x" * 65535, "utf-8-sig")
