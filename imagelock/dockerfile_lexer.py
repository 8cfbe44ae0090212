"""The Dockerfile's lexical layer: logical lines, parser directives, flags, heredocs, shell words.

It follows BuildKit's `frontend/dockerfile/parser` and `shell` packages rule for rule (line
continuations with the escape character, comment and empty lines inside continuations, parser
directives only at the very top, heredoc bodies that are not instructions, quote and escape
handling in flags, `$VAR` expansion), because an analysis that reads a Dockerfile differently
from BuildKit reports images the build does not pull, or misses some it does. It knows nothing
of images: `imagelock.dockerfile` gives the instructions their meaning.

Every string cut from the file is `Located`: each character keeps its offset in the original
text, so that a caller can rewrite one token and leave every other byte as it was.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Final

__all__ = [
    "DEFAULT_ESCAPE",
    "Directive",
    "DockerfileSyntaxError",
    "Heredoc",
    "Instruction",
    "Located",
    "ParsedDockerfile",
    "Unknown",
    "arg_words",
    "expand",
    "parse",
    "shell_words",
]

DEFAULT_ESCAPE: Final = "\\"
BOM: Final = "\ufeff"

#: Instructions whose arguments may name heredocs (ONBUILD passes through to its trigger).
_HEREDOC_COMMANDS: Final = frozenset({"add", "copy", "run"})
#: Instructions whose arguments BuildKit tries as a JSON array first.
_JSON_COMMANDS: Final = frozenset({"add", "cmd", "copy", "entrypoint", "run", "shell", "volume"})
_DIRECTIVE_KEYS: Final = frozenset({"syntax", "escape", "check"})

# Go's regexp `\s` is [\t\n\f\r ]; Python's would take Unicode spaces too.
_DIRECTIVE_RE: Final = re.compile(
    r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z"
)
_WHITESPACE_RE: Final = re.compile(r"[\t\v\f\r ]+")
_HEREDOC_RE: Final = re.compile(r"([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)\Z")
_SPECIAL_PARAMS: Final = frozenset("@*#?-$!0")


class DockerfileSyntaxError(ValueError):
    """A Dockerfile BuildKit's parser rejects; `line` is 1-based. The caller adds the path."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def is_space(char: str) -> bool:
    """Go's unicode.IsSpace, which BuildKit trims and splits with (Python's isspace() also
    counts the ASCII separators 0x1c-0x1f)."""
    return char.isspace() and char not in "\x1c\x1d\x1e\x1f"


@dataclass(frozen=True)
class Located:
    """Text cut from the Dockerfile, with each character's offset in the original text.

    Joining continuation lines and removing quotes or escapes moves characters; the offsets
    still say where each one was written, which is what a byte-exact rewrite needs.
    """

    text: str
    offsets: tuple[int, ...]

    @classmethod
    def at(cls, text: str, start: int) -> Located:
        """`text` as written contiguously from offset `start`."""
        return cls(text, tuple(range(start, start + len(text))))

    @classmethod
    def join(cls, parts: Iterable[Located]) -> Located:
        items = list(parts)
        return cls("".join(p.text for p in items), tuple(o for p in items for o in p.offsets))

    @property
    def span(self) -> tuple[int, int] | None:
        """[start, end) in the original text, from the first to the last character kept."""
        if not self.offsets:
            return None
        return self.offsets[0], self.offsets[-1] + 1

    def __getitem__(self, index: slice) -> Located:
        return Located(self.text[index], self.offsets[index])

    def __len__(self) -> int:
        return len(self.text)

    def strip(self) -> Located:
        """Trimmed of Go's Unicode spaces at both ends (strings.TrimSpace)."""
        start, end = 0, len(self.text)
        while start < end and is_space(self.text[start]):
            start += 1
        while end > start and is_space(self.text[end - 1]):
            end -= 1
        return self[start:end]


@dataclass(frozen=True)
class Heredoc:
    """A here-document named on an instruction line; its body lines are no instructions."""

    name: str
    chomp: bool
    expand: bool
    body: str = ""


@dataclass(frozen=True)
class Instruction:
    """One logical instruction: continuation lines joined, flags split off, heredocs read.

    `flags` are the leading `--name[=value]` words with quotes and escapes removed, as
    BuildKit passes them to its flag parser; `args` is the rest of the line, trimmed.
    `trigger` is the instruction an ONBUILD wraps.
    """

    keyword: Located
    flags: tuple[Located, ...]
    args: Located
    line: int
    end_line: int
    is_json: bool = False
    heredocs: tuple[Heredoc, ...] = ()
    trigger: Instruction | None = None

    @property
    def command(self) -> str:
        """The instruction in lower case (`from`, `copy`): instructions are case-insensitive."""
        return self.keyword.text.lower()


@dataclass(frozen=True)
class Directive:
    """A parser directive such as `# syntax=docker/dockerfile:1`; `value` is its first word."""

    name: str
    value: Located
    line: int


@dataclass(frozen=True)
class ParsedDockerfile:
    """The instructions of a Dockerfile and the directives that shape how they are read."""

    instructions: tuple[Instruction, ...]
    escape: str = DEFAULT_ESCAPE
    syntax: Directive | None = None


# --- lines and directives -------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """One physical line: its 1-based number and text, newline characters included."""

    number: int
    raw: Located

    @property
    def content(self) -> Located:
        """Without the trailing CR/LF characters (BuildKit trims all of them)."""
        text = self.raw.text
        end = len(text)
        while end and text[end - 1] in "\r\n":
            end -= 1
        return self.raw[:end]


def _physical_lines(text: str) -> list[_Line]:
    """Split on LF only, as BuildKit's scanner does; a CR belongs to its line."""
    lines: list[_Line] = []
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end + 1
        lines.append(_Line(len(lines) + 1, Located.at(text[start:end], start)))
        start = end
    if lines and lines[0].raw.text.startswith(BOM):
        first = lines[0]
        lines[0] = _Line(first.number, first.raw[1:])
    return lines


def _lstrip(loc: Located) -> Located:
    start = 0
    while start < len(loc.text) and is_space(loc.text[start]):
        start += 1
    return loc[start:]


def _is_comment(loc: Located) -> bool:
    return _lstrip(loc).text.startswith("#")


@dataclass
class _DirectiveReader:
    """BuildKit's DirectiveParser: directives count until the first line that is not one."""

    done: bool = False
    seen: set[str] = field(default_factory=set)

    def read(self, line: Located, number: int) -> Directive | None:
        """The directive on `line`, or None (and no more directives) when it holds none."""
        if self.done:
            return None
        if not line.text.startswith("#"):
            self.done = True
            return None
        rest = _lstrip(line[1:])
        match = _DIRECTIVE_RE.match(rest.text)
        if match is None or match.group(1).lower() not in _DIRECTIVE_KEYS:
            self.done = True
            return None
        name = match.group(1).lower()
        if name in self.seen:
            raise DockerfileSyntaxError(number, f"only one {name} parser directive can be used")
        self.seen.add(name)
        return Directive(name, rest[match.start(2) : match.end(2)], number)


def _syntax_directive(lines: list[_Line]) -> Directive | None:
    """The `# syntax=` frontend image, found as BuildKit's DetectSyntax finds it.

    Unlike the parser proper it reads lines as written (no leading spaces allowed), skips a
    `#!` first line, and keeps only the value's first word.
    """
    reader = _DirectiveReader()
    body = lines[1:] if lines and lines[0].raw.text.startswith("#!") else lines
    for line in body:
        content = line.raw.text.rstrip("\n")
        loc = line.raw[: len(content.removesuffix("\r"))]
        try:
            directive = reader.read(loc, line.number)
        except DockerfileSyntaxError:
            return None  # the forwarded frontend reports the duplicate itself
        if directive is None:
            return None
        if directive.name == "syntax":
            word = directive.value.text.split(" ", 1)[0]
            return Directive("syntax", directive.value[: len(word)], line.number)
    return None


def _continuation_re(escape: str) -> re.Pattern[str]:
    """An escape character that ends a line (trailing blanks allowed) and is not itself
    escaped continues the instruction on the next line."""
    e = re.escape(escape)
    return re.compile(rf"(?:\A|(?<=[^{e}])){e}[ \t]*\Z")


def _trim_continuation(loc: Located, pattern: re.Pattern[str]) -> tuple[Located, bool]:
    """(line without its continuation mark, whether the instruction ends on this line)."""
    match = pattern.search(loc.text)
    if match is None:
        return loc, True
    return loc[: match.start()], False


# --- parsing --------------------------------------------------------------------------------


def parse(text: str) -> ParsedDockerfile:
    """Read a Dockerfile's instructions as BuildKit's parser does. Pure; never evaluates."""
    lines = _physical_lines(text)
    directives = _DirectiveReader()
    escape = DEFAULT_ESCAPE
    continuation = _continuation_re(escape)
    instructions: list[Instruction] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        first = _lstrip(line.content)
        directive = directives.read(first, line.number)
        if directive is not None and directive.name == "escape":
            escape = _escape_token(directive)
            continuation = _continuation_re(escape)
        if _is_comment(first):
            continue
        logical, ends = _trim_continuation(first, continuation)
        if ends and not logical.text:
            continue
        parts, end_line = [logical], line.number
        while not ends and index < len(lines):
            nxt = lines[index]
            index += 1
            end_line = nxt.number
            content = nxt.content
            if _is_comment(content) or not _lstrip(content).text:
                continue
            content, ends = _trim_continuation(content, continuation)
            parts.append(content)
        logical = Located.join(parts)
        instruction = _instruction(logical, escape, line.number, end_line)
        if "<<" in logical.text and _can_have_heredocs(instruction):
            instruction, index = _read_heredocs(instruction, logical.text, lines, index)
        instructions.append(instruction)
    return ParsedDockerfile(tuple(instructions), escape, _syntax_directive(lines))


def _escape_token(directive: Directive) -> str:
    value = directive.value.text
    if value not in ("`", "\\"):
        raise DockerfileSyntaxError(
            directive.line, f"invalid escape token '{value}' does not match ` or \\"
        )
    return value


def _instruction(line: Located, escape: str, start: int, end: int) -> Instruction:
    """Split a logical line into keyword, flags and arguments (BuildKit's splitCommand)."""
    trimmed = line.strip()
    match = _WHITESPACE_RE.search(trimmed.text)
    if match is None:
        keyword, rest = trimmed, trimmed[len(trimmed) :]
    else:
        keyword, rest = trimmed[: match.start()], trimmed[match.end() :]
    args, flags = _builder_flags(rest, escape)
    args = args.strip()
    command = keyword.text.lower()
    trigger = None
    if command == "onbuild" and args.text:
        trigger = _instruction(args, escape, start, end)
    return Instruction(
        keyword=keyword,
        flags=tuple(flags),
        args=args,
        line=start,
        end_line=end,
        is_json=command in _JSON_COMMANDS and _is_json_array(args.text, start),
        trigger=trigger,
    )


def _builder_flags(line: Located, escape: str) -> tuple[Located, list[Located]]:
    """Leading `--flag` words, quotes and escapes removed; the rest of the line as written."""
    flags: list[Located] = []
    pos, text = 0, line.text
    while True:
        while pos < len(text) and is_space(text[pos]):
            pos += 1
        if pos >= len(text):
            return line[len(text) :], flags
        if not text.startswith("--", pos):
            return line[pos:], flags
        word, pos, quoted = _flag_word(line, pos, escape)
        if word.text == "--":
            return line[pos:], flags
        if word.text or quoted:
            flags.append(word)


def _flag_word(line: Located, pos: int, escape: str) -> tuple[Located, int, bool]:
    """One flag word from `pos`: (word, position after it, whether it held quotes)."""
    text = line.text
    kept: list[int] = []
    quote: str | None = None
    quoted = False
    while pos < len(text):
        char = text[pos]
        if quote is None and is_space(char):
            break
        if quote is None and char in "'\"":
            quote, quoted = char, True
        elif quote is not None and char == quote:
            quote = None
        elif char == escape:
            if pos + 1 < len(text):
                pos += 1
                kept.append(pos)
            elif quote is not None:
                quote = None
        else:
            kept.append(pos)
        pos += 1
    word = Located("".join(text[i] for i in kept), tuple(line.offsets[i] for i in kept))
    return word, pos, quoted


def _reject_constant(name: str) -> object:
    raise ValueError(name)


def _is_json_array(args: str, line: int) -> bool:
    """Whether BuildKit reads these arguments as a JSON array (exec form)."""
    if not args.startswith("["):
        return False
    try:
        value = json.loads(args, parse_constant=_reject_constant)
    except ValueError:
        return False
    if not isinstance(value, list):
        return False
    if not all(isinstance(item, str) for item in value):
        raise DockerfileSyntaxError(
            line, "when using JSON array syntax, arrays must be comprised of strings only"
        )
    return True


def _can_have_heredocs(instruction: Instruction) -> bool:
    target = instruction.trigger if instruction.command == "onbuild" else instruction
    return target is not None and target.command in _HEREDOC_COMMANDS and not target.is_json


def _read_heredocs(
    instruction: Instruction, logical: str, lines: list[_Line], index: int
) -> tuple[Instruction, int]:
    """Consume the bodies of the heredocs the instruction names, in order."""
    read: list[Heredoc] = []
    end_line = instruction.end_line
    for doc in _heredocs_on(logical, instruction.line):
        body: list[str] = []
        while True:
            if index >= len(lines):
                raise DockerfileSyntaxError(instruction.line, "unterminated heredoc")
            line = lines[index]
            index += 1
            end_line = line.number
            candidate = line.content.text
            if doc.chomp:
                candidate = candidate.lstrip("\t")
            if candidate == doc.name:
                break
            body.append(line.raw.text)
        read.append(replace(doc, body="".join(body)))
    return replace(instruction, heredocs=tuple(read), end_line=end_line), index


def _heredocs_on(line: str, number: int) -> list[Heredoc]:
    """The heredocs a line names (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`), in order."""
    try:
        words = shell_words(line, DEFAULT_ESCAPE, raw_quotes=True, raw_escapes=True)
    except DockerfileSyntaxError:
        return []
    docs: list[Heredoc] = []
    for word in words:
        match = _HEREDOC_RE.match(word)
        if match is None or not match.group(3):
            continue
        doc = _heredoc(match.group(3), match.group(2) == "-", number)
        if doc is not None:
            docs.append(doc)
    return docs


def _heredoc(rest: str, chomp: bool, number: int) -> Heredoc | None:
    """The heredoc a `<<WORD` names; quoting any part of WORD turns expansion off."""
    try:
        words = shell_words(rest, DEFAULT_ESCAPE)
        if len(words) != 1:
            return None
        raw = shell_words(rest, DEFAULT_ESCAPE, raw_quotes=True)
    except DockerfileSyntaxError as error:
        raise DockerfileSyntaxError(number, error.message) from None
    name = words[0]
    quotes = name.count("'") + name.count('"')
    raw_quotes = raw[0].count("'") + raw[0].count('"')
    return Heredoc(name, chomp, expand=quotes == raw_quotes)


# --- shell words and variable expansion -----------------------------------------------------


@dataclass(frozen=True)
class Unknown:
    """A variable whose value cannot be known without more input.

    `is_set` tells the shell whether the variable counts as set: an ARG declared without a
    default is unset (so `${X:-word}` is known), an ARG whose default used such a variable is
    set to a value nobody knows. `cause` names the variable at the root, for the message.
    """

    cause: str
    is_set: bool = False


Value = str | Unknown | None
Lookup = Callable[[str], Value]


class _Scanner:
    """A cursor over a word, like Go's text/scanner Peek/Next over runes."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        char = self.peek()
        self.pos += 1 if char else 0
        return char


class _Words:
    """Word splitting of an expanded line: text from `$` expansions splits on spaces, quoted
    text and escaped characters never do."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.buf: list[str] = []
        self.in_word = False

    def add_char(self, char: str) -> None:
        if is_space(char):
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf.clear()
                self.in_word = False
        else:
            self.add_raw(char)

    def add_raw(self, text: str) -> None:
        self.buf.append(text)
        self.in_word = True

    def add_string(self, text: str) -> None:
        for char in text:
            self.add_char(char)

    def result(self) -> list[str]:
        if self.buf:
            self.words.append("".join(self.buf))
            self.buf.clear()
        return self.words


class _Pieces:
    """An expansion result under construction: text, or Unknown once any part is unknown."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.unknown: Unknown | None = None

    def add(self, value: str | Unknown) -> None:
        if isinstance(value, Unknown):
            self.unknown = self.unknown or value
        else:
            self.parts.append(value)

    def value(self) -> str | Unknown:
        return self.unknown if self.unknown is not None else "".join(self.parts)


@dataclass
class _Shell:
    """BuildKit's shell lexer: quotes, escapes and `$` expansion of one word or line."""

    text: str
    escape: str
    lookup: Lookup
    raw_quotes: bool = False
    raw_escapes: bool = False
    skip_unset: bool = False
    scanner: _Scanner = field(init=False)

    def __post_init__(self) -> None:
        self.scanner = _Scanner(self.text)

    def run(self) -> tuple[str | Unknown, list[str]]:
        try:
            return self._until("", self.raw_escapes)
        except DockerfileSyntaxError as error:
            raise DockerfileSyntaxError(0, f"failed to process {self.text!r}: {error}") from None

    def _until(self, stop: str, raw_escapes: bool) -> tuple[str | Unknown, list[str]]:
        """Process until `stop` (consumed) or the end; returns (result, split words)."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._scan(stop)
        finally:
            self.raw_escapes = saved

    def _scan(self, stop: str) -> tuple[str | Unknown, list[str]]:
        out, words, sc = _Pieces(), _Words(), self.scanner
        specials: dict[str, Callable[[], str | Unknown]] = {
            "$": self._dollar,
            "<": self._maybe_heredoc,
            "'": self._single_quoted,
            '"': self._double_quoted,
        }
        while sc.peek():
            char = sc.peek()
            if stop and char == stop:
                sc.next()
                return out.value(), words.result()
            special = specials.get(char)
            if special is not None:
                piece = special()
                out.add(piece)
                text = piece if isinstance(piece, str) else ""
                words.add_string(text) if char == "$" else words.add_raw(text)
                continue
            sc.next()
            if char == self.escape:
                if self.raw_escapes:
                    words.add_raw(char)
                    out.add(char)
                char = sc.next()
                if not char:
                    break
                words.add_raw(char)
            else:
                words.add_char(char)
            out.add(char)
        if stop:
            raise DockerfileSyntaxError(
                0, f"unexpected end of statement while looking for matching {stop}"
            )
        return out.value(), words.result()

    def _single_quoted(self) -> str:
        sc = self.scanner
        quote = sc.next()
        out = [quote] if self.raw_quotes else []
        while True:
            char = sc.next()
            if not char:
                raise DockerfileSyntaxError(
                    0, "unexpected end of statement while looking for matching single-quote"
                )
            if char == "'":
                out.append(char if self.raw_quotes else "")
                return "".join(out)
            out.append(char)

    def _double_quoted(self) -> str | Unknown:
        sc = self.scanner
        quote = sc.next()
        out = _Pieces()
        out.add(quote if self.raw_quotes else "")
        while True:
            char = sc.peek()
            if not char:
                raise DockerfileSyntaxError(
                    0, "unexpected end of statement while looking for matching double-quote"
                )
            if char == '"':
                sc.next()
                out.add(char if self.raw_quotes else "")
                return out.value()
            if char == "$":
                out.add(self._dollar())
                continue
            char = sc.next()
            if char == self.escape:
                if self.raw_escapes:
                    out.add(char)
                following = sc.peek()
                if not following:
                    continue
                if following in ('"', "$", self.escape):
                    char = sc.next()
            out.add(char)

    def _maybe_heredoc(self) -> str:
        """`<<` and the blanks after it stay glued to the heredoc word that follows."""
        sc = self.scanner
        sc.next()
        if sc.peek() != "<":
            return "<"
        sc.next()
        blanks = []
        while sc.peek() in ("\t", "\r", " ") and sc.peek():
            blanks.append(sc.next())
        return "<<" + "".join(blanks)

    def _name(self) -> str:
        """A variable name: letters, digits and `_`; or all digits; or one special parameter."""
        sc = self.scanner
        first = sc.peek()
        if first.isdecimal():
            digits = []
            while sc.peek() and sc.peek().isdecimal():
                digits.append(sc.next())
            return "".join(digits)
        if first in _SPECIAL_PARAMS and first:
            return sc.next()
        name = []
        while sc.peek() and (sc.peek().isalpha() or sc.peek().isdecimal() or sc.peek() == "_"):
            name.append(sc.next())
        return "".join(name)

    def _get(self, name: str) -> Value:
        return self.lookup(name)

    def _dollar(self) -> str | Unknown:
        sc = self.scanner
        sc.next()
        if sc.peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value = self._get(name)
            if value is None and self.skip_unset:
                return "$" + name
            return _plain(value)
        sc.next()
        if not sc.peek():
            raise DockerfileSyntaxError(0, "syntax error: missing '}'")
        if sc.peek() in "{}:":
            raise DockerfileSyntaxError(0, "syntax error: bad substitution")
        name = self._name()
        op = sc.next()
        if op == "}":
            value = self._get(name)
            if value is None and self.skip_unset:
                return "${" + name + "}"
            return _plain(value)
        if op == "/":
            return self._replace(name)
        colon = op == ":"
        if colon:
            op = sc.next()
        return self._modifier(name, op, colon)

    def _modifier(self, name: str, op: str, colon: bool) -> str | Unknown:
        """`${name:-word}` and the other `${name<op>word}` forms."""
        shown = (":" if colon else "") + op
        if op not in "+-?#%" or not op:
            raise DockerfileSyntaxError(0, f"unsupported modifier ({shown}) in substitution")
        pattern_op = op in "#%"
        if colon and pattern_op:
            raise DockerfileSyntaxError(0, f"unsupported modifier ({shown}) in substitution")
        word = self._braced_word(pattern_op)
        value = self._get(name)
        if value is None and self.skip_unset:
            return "${" + name + shown + _text(word) + "}"
        if op in "+-":
            return _default_or_alternative(value, word, op, colon)
        if op == "?":
            return _required(name, value, word, colon)
        if isinstance(value, Unknown):
            return value
        if isinstance(word, Unknown):
            return word
        return _trim(value or "", word, op)

    def _braced_word(self, raw_escapes: bool) -> str | Unknown:
        try:
            word, _ = self._until("}", raw_escapes)
        except DockerfileSyntaxError:
            if not self.scanner.peek():
                raise DockerfileSyntaxError(0, "syntax error: missing '}'") from None
            raise
        return word

    def _replace(self, name: str) -> str | Unknown:
        """`${name/pattern/replacement}`, `${name//pattern/replacement}`."""
        sc = self.scanner
        replace_all = sc.peek() == "/"
        if replace_all:
            sc.next()
        try:
            pattern, _ = self._until("/", True)
        except DockerfileSyntaxError:
            if not sc.peek():
                raise DockerfileSyntaxError(0, "syntax error: missing '/' in ${}") from None
            raise
        replacement = self._braced_word(True)
        value = self._get(name)
        if value is None and self.skip_unset:
            sep = "//" if replace_all else "/"
            return "${" + name + sep + _text(pattern) + "/" + _text(replacement) + "}"
        for part in (value, pattern, replacement):
            if isinstance(part, Unknown):
                return part
        assert isinstance(pattern, str) and isinstance(replacement, str)
        regex = _shell_pattern(pattern, greedy=True, anchored=False)
        text = value if isinstance(value, str) else ""
        if replace_all:
            return regex.sub(lambda _: replacement, text)
        return regex.sub(lambda _: replacement, text, count=1)


def _text(value: str | Unknown) -> str:
    return value if isinstance(value, str) else ""


def _plain(value: Value) -> str | Unknown:
    """`$name`: the value; an unknown one stays unknown."""
    return "" if value is None else value


def _default_or_alternative(
    value: Value, word: str | Unknown, op: str, colon: bool
) -> str | Unknown:
    """`-`: the word when unset (or empty, with `:`); `+`: the word when set (and non-empty,
    with `:`). Unset is known even for an ARG without a value; emptiness is not."""
    if isinstance(value, Unknown):
        if not value.is_set:
            return word if op == "-" else ""
        return word if op == "+" and not colon else value
    if value is None or (colon and value == ""):
        return word if op == "-" else ""
    return value if op == "-" else word


def _required(name: str, value: Value, word: str | Unknown, colon: bool) -> str | Unknown:
    """`${name?message}`: fail when unset (or empty with `:`)."""
    if isinstance(value, Unknown):
        return value
    if value is None or (colon and value == ""):
        default = "is not allowed to be unset" if value is None else "is not allowed to be empty"
        message = word if isinstance(word, str) and word else default
        raise DockerfileSyntaxError(0, f"{name}: {message}")
    return value


def _trim(value: str, word: str, op: str) -> str:
    """`${name#pattern}` / `##` strip a prefix, `%` / `%%` a suffix (shortest / longest)."""
    greedy = word.startswith(op)
    if greedy:
        word = word[1:]
    if op == "#":
        match = _shell_pattern(word, greedy, anchored=True).match(value)
        return value[match.end() :] if match else value
    # The shortest rightmost suffix: reverse both, as a leftmost match.
    reversed_value = value[::-1]
    match = _shell_pattern(_reverse_pattern(word), greedy, anchored=True).match(reversed_value)
    return (reversed_value[match.end() :] if match else reversed_value)[::-1]


def _reverse_pattern(pattern: str) -> str:
    """Reverse a shell pattern, keeping each escape before the character it escapes."""
    tokens: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern[index] == "\\" and index + 1 < len(pattern):
            tokens.append(pattern[index : index + 2])
            index += 2
        else:
            tokens.append(pattern[index])
            index += 1
    return "".join(reversed(tokens))


def _shell_pattern(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell wildcard pattern (`*`, `?`, `\\` escapes; no brackets) as a regex."""
    out = ["^"] if anchored else []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        index += 1
        if char == "*":
            out.append(".*" if greedy else ".*?")
        elif char == "?":
            out.append(".")
        elif char == "\\":
            following = pattern[index] if index < len(pattern) else ""
            if following in ("}", "/"):
                continue
            if following not in ("*", "?", "\\"):
                raise DockerfileSyntaxError(0, f"invalid pattern ({pattern}) in substitution")
            out.append(re.escape(following))
            index += 1
        else:
            out.append(re.escape(char))
    return re.compile("".join(out))


def _no_variables(_: str) -> Value:
    return None


def expand(text: str, escape: str, lookup: Lookup) -> str | Unknown:
    """One word after quote removal and `$` expansion (BuildKit's ProcessWord), or the
    Unknown that made it unknowable. Raises DockerfileSyntaxError (line 0) on bad syntax."""
    result, _ = _Shell(text, escape, lookup).run()
    return result


def shell_words(
    text: str,
    escape: str,
    lookup: Lookup = _no_variables,
    *,
    raw_quotes: bool = False,
    raw_escapes: bool = False,
) -> list[str]:
    """A line split into words after expansion (BuildKit's ProcessWords); unset variables
    are kept as written, as the heredoc detection wants."""
    shell = _Shell(text, escape, lookup, raw_quotes, raw_escapes, skip_unset=True)
    _, words = shell.run()
    return words


def arg_words(text: str, escape: str) -> list[str]:
    """Words of an ARG/ENV line, split on spaces outside quotes, quotes and escapes kept for
    the later expansion (BuildKit's parseWords)."""
    words: list[str] = []
    buf: list[str] = []
    quote: str | None = None
    in_word = blank_ok = False
    index = 0
    while index < len(text):
        char = text[index]
        index += 1
        if quote is None:
            if is_space(char):
                if in_word and (blank_ok or buf):
                    words.append("".join(buf))
                buf, in_word, blank_ok = [], False, False
                continue
            in_word = True
            if char in "'\"":
                quote, blank_ok = char, True
        elif char == quote:
            quote = None
            buf.append(char)
            continue
        if char == escape and (quote is None or quote != "'"):
            if index == len(text):
                quote = None
                continue
            buf.append(char)
            char = text[index]
            index += 1
        buf.append(char)
    if in_word and (blank_ok or buf):
        words.append("".join(buf))
    return words
