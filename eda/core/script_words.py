"""Values written into tool scripts (Tcl for OpenSTA, yosys scripts, Verilog) as one literal word each.

Names (top module, clock port) are validated; paths are quoted. A plain path (letters, digits and
/._-+) is written exactly as before: the scripts are hashed into the run cache keys, so quoting
every path would invalidate every cached run. Only a path with other characters is quoted.
"""

from __future__ import annotations

import re
from pathlib import Path

from eda.core.errors import EdaError

# Written unquoted in every script language we generate: nothing in it is special anywhere.
_PLAIN = re.compile(r"[A-Za-z0-9_/.+-]+")
# A plain (not escaped) Verilog identifier; `$` is allowed by Verilog after the first character.
_VERILOG_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
# Inside a Tcl braced word only braces and backslashes are special.
_TCL_BRACE_UNSAFE = re.compile(r"[{}\\]")
# Characters a backslash makes literal outside braces (Tcl's own list quoting does the same).
_TCL_SPECIAL = re.compile(r'([\\{}\[\]$";\s])')
# How errors name the prepared liberty, whose path is the user's cache folder.
LIBERTY_COPY = "the liberty copy under the cache folder (--cache-dir / $VOLTSCALE_CACHE)"
_TCL_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v", "\f": "\\f"}


def is_plain(text: str) -> bool:
    return _PLAIN.fullmatch(text) is not None


def tcl_word(value: str | Path, *, braced: bool = False) -> str:
    """`value` as one literal Tcl word: no $, [ ] or backslash substitution, spaces kept.

    Plain text is returned as is (braced=True: inside braces, as scripts that always braced it did);
    other text is braced, or backslash-quoted when it holds a brace or a backslash."""
    text = str(value)
    if is_plain(text) and not braced:
        return text
    if not _TCL_BRACE_UNSAFE.search(text):
        return "{" + text + "}"
    return _TCL_SPECIAL.sub(lambda m: _TCL_CONTROL.get(m.group(1), "\\" + m.group(1)), text) or "{}"


def yosys_word(value: str | Path, what: str) -> str:
    """A file path as one yosys script argument: plain as is, else in double quotes.

    yosys has no escape inside its quotes, so a path holding `"` or a line break cannot be written;
    `what` names the path in the error (e.g. 'the --cache-dir folder')."""
    text = str(value)
    if is_plain(text):
        return text
    if any(ch in text for ch in '"\n\r'):
        raise EdaError(f"{what} {text!r} contains a double quote or a line break, which a yosys script cannot "
                       "quote; rename or move it")
    return f'"{text}"'


# Yosys 0.23's `abc` pass makes its file arguments (liberty, -constr, -script) absolute from the
# run folder and writes them unquoted into ABC's script, where whitespace, ';' and quotes split
# or end the command; no quoting on our side reaches ABC.
_ABC_UNSAFE = re.compile(r"""[\s;'"]""")


def check_abc_safe_folder(folder: str | Path, what: str) -> None:
    """Refuse, naming `what`, a folder whose path ABC (run by yosys' abc pass) would split."""
    bad = sorted(set(_ABC_UNSAFE.findall(str(folder))))
    if bad:
        shown = ", ".join("a space" if ch == " " else repr(ch) for ch in bad)
        raise EdaError(f"{what} {str(folder)!r} contains {shown}: yosys hands paths under it to ABC unquoted, "
                       "which cannot read them. Choose a folder whose path has no whitespace, ';' or quotes")


def is_verilog_identifier(name: str) -> bool:
    return isinstance(name, str) and _VERILOG_IDENTIFIER.fullmatch(name) is not None


def verilog_identifier(name: str, what: str) -> str:
    """`name` if it is a plain Verilog identifier; `what` names the option or key in the error."""
    if not is_verilog_identifier(name):
        raise EdaError(f"{what} {name!r} is not a plain Verilog identifier (letters, digits, _ and $, "
                       "not starting with a digit or $); escaped identifiers are not supported there")
    return name
