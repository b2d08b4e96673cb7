"""Words of the request and of labels: tokens, the matcher that scores labels, series ranking."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from shared.domain.wrapper import IndicatorRequest
from shared.points.columns import series_key
from shared.points.point import PointSequence


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _words(
    "a an and the of in on for from by to at with as per is are be or its it this that "
    "data series value values incl excl including excluding api"
)
SYNONYMS = {
    "mean": "average",
    "avg": "average",
    "temp": "temperature",
    "ghg": "greenhouse",
    "min": "minimum",
    "max": "maximum",
    "monthly": "month",
    "quarterly": "quarter",
    "yearly": "annual",
    "annually": "annual",
    "weekly": "week",
    "daily": "day",
    "hourly": "hour",
}
# Words that say a label is NOT the thing it names (`… (Not in Total)`, `Excl. VAT`, `ex. energy`).
NEGATION = re.compile(
    r"\b(not\s+in|not\s+incl\w*|excl\w*|excluding|without|except|ex\.|ohne|sans|sin|senza|zonder|bez)(?=\W|$)",
    re.IGNORECASE,
)
# Footnote references in a label (`[note 4]`, `[x]`): they name no part of what the column holds.
FOOTNOTE = re.compile(r"\[[^\]]{0,20}\]")
# Label words that do not name what a column holds: footnote marks and numbers.
_MARK = re.compile(r"^(\d+|note|r|p|e)$")
TIME_WORDS = _words(
    "year yr years jahr annee année date datum time zeit period periode période month monat mois day tag "
    "jour quarter quartal week timestamp datetime start end from to begin until zeitraum stichtag fecha año "
    "ano mes anno mese giorno periodo jaar maand dag år månad rok miesiąc dzień kwartał okres trimestre "
    "semestre kwartaal tijd mês dia "
    # Japanese, Chinese and Korean headers are single words: year, fiscal year, date, time, period, month…
    "年 年度 年月 年月日 日付 日時 時刻 時間 期間 西暦 月 日 日期 时间 年份 月份 날짜 연도 일자 기간"
)
VALUE_NAMES = frozenset(
    {
        "value",
        "values",
        "obs value",
        "wert",
        "werte",
        "valeur",
        "valeurs",
        "valor",
        "valore",
        "waarde",
        "wartość",
        "値",
    }
)
NOTE_WORDS = _words("note notes comment comments footnote footnotes flag flags remark remarks status")
ID_WORDS = _words("id code index decimal rank page fips lat latitude lon longitude elevation")
START_WORDS = _words("start from begin beginning since von anfang beginn ab début debut inicio desde")
END_WORDS = _words("end to until till stop bis ende fin hasta")
HOUR_WORDS = frozenset({"hour", "hora", "heure", "stunde", "uur", "ora", "godzina", "hr", "hh", "he", "time"})
MONTH_WORDS = _words("month monat mois mes mese maand månad mo 月 월")
PERIOD_HEADER_FORMATS = (
    "year", "year_month", "year_mmm", "year_quarter", "month_name_year", "iso", "financial_year",
    "month_range",
)  # fmt: skip


def tokens(text: str) -> list[str]:
    """Lower-case words of a label, split at case, digit and punctuation boundaries, lightly stemmed."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])", " ", text)
    words = re.findall(r"[^\W_]+|%", spaced.casefold())
    result = []
    for word in words:
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        word = SYNONYMS.get(word, word)
        if word not in STOPWORDS:
            result.append(word)
    return result


# Words that name how often a series has a value; a request naming one wants a table of that frequency.
FREQUENCIES = {
    "hour": "hour",
    "day": "day",
    "week": "week",
    "month": "month",
    "quarter": "quarter",
    "annual": "year",
    "year": "year",
}
ADJECTIVES = {
    "hour": "hourly",
    "day": "daily",
    "week": "weekly",
    "month": "monthly",
    "quarter": "quarterly",
    "year": "annual",
}
# The frequency of the periods each time format reads.
FORMAT_FREQUENCIES = {
    "year": "year",
    "year_month": "month",
    "year_mmm": "month",
    "month_name_year": "month",
    "year_quarter": "quarter",
}


def frequency_of(text: str) -> str | None:
    """The frequency a text names (`monthly`, `Quarter`, `annual`), when it names exactly one."""
    named = {FREQUENCIES[tok] for tok in tokens(text) if tok in FREQUENCIES}
    return named.pop() if len(named) == 1 else None


def requested_frequency(request: IndicatorRequest) -> str | None:
    """The frequency the request's name names, else the one its description names."""
    return frequency_of(request.name) or frequency_of(request.description)


def negations(text: str) -> set[str]:
    """The negating words of a text (`not in`, `excl`, `without`…), folded."""
    return {" ".join(match.group(1).casefold().rstrip(".").split())[:4] for match in NEGATION.finditer(text)}


class RequestMatcher:
    """Scores labels (columns, arrays, sheets) against the words of an indicator request."""

    # Words of the request's name weigh more than those only in its description: the name says what is
    # wanted, the description often names the table and its neighbours too.

    def __init__(self, request: IndicatorRequest, labels: Sequence[str]) -> None:
        self.request_tokens = set(tokens(request.text()))
        self.name_tokens = set(tokens(request.name))
        self.unit_tokens = set(tokens(request.unit))
        self.negated = negations(request.text())
        self.about_total = "total" in self.request_tokens
        counts = Counter(tok for label in labels for tok in set(tokens(label)))
        self.idf = {tok: 1.0 + math.log((1 + len(labels)) / (1 + n)) for tok, n in counts.items()}

    def score(self, label: str, *, unit: str = "") -> float:
        """Matched request words (rarer and name words weigh more), minus other words, negations, totals."""
        label_tokens = tokens(FOOTNOTE.sub(" ", label))
        matched = [tok for tok in set(label_tokens) if tok in self.request_tokens]
        unmatched = [tok for tok in label_tokens if tok not in self.request_tokens]
        value = sum(self.idf.get(tok, 1.0) * (1.0 if tok in self.name_tokens else 0.6) for tok in matched)
        value -= 0.1 * len(unmatched)
        words = [tok for tok in label_tokens if not _MARK.match(tok)]
        if words:
            # A label mostly made of requested words names the thing, not a neighbour; wholly made, more so.
            asked = sum(1 for tok in words if tok in self.request_tokens)
            value += 1.5 * asked / len(words) + (1.0 if asked == len(words) else 0.0)
        if negations(label) - self.negated:
            value -= 3.0
        if "total" in label_tokens:
            value += 1.0 if self.about_total else -0.5
        if unit and self.unit_tokens and set(tokens(unit)) & self.unit_tokens:
            value += 0.5
        return value


def rank_series(
    points: Sequence[Any], request: IndicatorRequest
) -> list[tuple[tuple[tuple[str, str], ...], float]]:
    """(series key, fit) of the points, the series whose dimension values best match the request first."""
    if isinstance(points, PointSequence):
        # The series in the order they first occur, without making a Point of each point.
        columns = points.columns
        keys = list(dict.fromkeys(series_key(columns.series[code]) for code in columns.present_series()))
    else:
        keys = list(dict.fromkeys(series_key(p.dimensions) for p in points))
    if len(keys) <= 1:
        return [(key, 0.0) for key in keys]
    matcher = RequestMatcher(request, sorted({value for key in keys for _, value in key}))
    request_tokens = matcher.request_tokens

    def fit(key: tuple[tuple[str, str], ...]) -> float:
        total = 0.0
        for _, value in key:
            words = set(tokens(value))
            if words and words <= request_tokens:
                total += 1.0 + sum(matcher.idf.get(w, 1.0) for w in words)
        return total

    return sorted(((key, fit(key)) for key in keys), key=lambda item: item[1], reverse=True)
