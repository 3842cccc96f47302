"""The parser: directives, continuations, heredocs, flags, JSON forms, errors with lines."""

from __future__ import annotations

import pytest

from pybuild.builder.containerfile import parse
from pybuild.errors import ContainerfileError


def dump(text: str) -> list[str]:
    return [n.dump() for n in parse(text).nodes]


def test_instructions_are_case_insensitive() -> None:
    assert dump("from alpine\nRuN echo hi\n") == ['from "alpine"', 'run "echo hi"']


def test_escape_directive_switches_continuation_to_backtick() -> None:
    doc = parse("# escape=`\nFROM a\nRUN dir `\n  c:\\\\x\n")
    assert doc.escape == "`"
    assert doc.nodes[1].args == ["dir   c:\\\\x"]


def test_directive_after_an_instruction_is_a_comment() -> None:
    doc = parse("FROM a\n# escape=`\nRUN x \\\n y\n")
    assert doc.escape == "\\" and doc.nodes[1].args == ["x  y"]


def test_duplicate_directive_is_an_error_with_its_line() -> None:
    with pytest.raises(ContainerfileError) as e:
        parse("# escape=`\n# escape=\\\nFROM a\n", "Dfile")
    assert str(e.value) == "Dfile:2: only one escape parser directive can be used"


def test_invalid_escape_value() -> None:
    with pytest.raises(ContainerfileError, match="invalid escape token"):
        parse("# escape=x\nFROM a\n")


def test_syntax_and_check_directives_are_accepted() -> None:
    doc = parse("# syntax=docker/dockerfile:1.7\n# check=skip=all\nFROM a\n")
    assert doc.syntax == "docker/dockerfile:1.7" and doc.check == "skip=all" and doc.warnings == []


def test_syntax_naming_another_frontend_warns() -> None:
    doc = parse("# syntax=example.com/my/frontend:2\nFROM a\n", "F")
    assert len(doc.warnings) == 1 and "another frontend" in doc.warnings[0] and doc.warnings[0].startswith("F:1")


def test_bom_and_crlf() -> None:
    doc = parse("\ufeffFROM a\r\nRUN echo \\\r\n  hi\r\n")
    assert [n.dump() for n in doc.nodes] == ['from "a"', 'run "echo   hi"']
    assert (doc.nodes[1].start_line, doc.nodes[1].end_line) == (2, 3)


def test_comments_and_blank_lines_inside_continuation() -> None:
    doc = parse("FROM a\nRUN a \\\n# c\n\n  b\n")
    assert doc.nodes[1].args == ["a   b"] and doc.nodes[1].end_line == 5
    assert any("empty continuation" in w for w in doc.warnings)


def test_continuation_at_eof_and_escaped_escape() -> None:
    assert dump("FROM a\nRUN x \\") == ['from "a"', 'run "x"']
    assert dump("FROM a\nENV C=x\\\\\nENV D=y\n")[1:] == ['env "C" "x\\\\\\\\" "="', 'env "D" "y" "="']


def test_flags_and_double_dash() -> None:
    n = parse("FROM a\nCOPY --from=b --chown=1:2 -- --weird /d\n").nodes[1]
    assert n.flags == ["--from=b", "--chown=1:2"] and n.args == ["--weird", "/d"]


def test_json_exec_form_and_fallback() -> None:
    doc = parse('FROM a\nCMD ["a", "b c"]\nCMD [a]\nRUN ["x"] && y\n')
    assert doc.nodes[1].json and doc.nodes[1].args == ["a", "b c"]
    assert not doc.nodes[2].json and doc.nodes[2].args == ["[a]"]
    assert not doc.nodes[3].json


def test_json_with_a_non_string_is_an_error_with_line() -> None:
    with pytest.raises(ContainerfileError) as e:
        parse('FROM a\n\nCMD ["a", 1]\n', "C")
    assert str(e.value) == "C:3: when using JSON array syntax, arrays must be comprised of strings only"


def test_env_without_value_is_an_error_with_line() -> None:
    with pytest.raises(ContainerfileError) as e:
        parse("FROM a\nENV PATH\n", "C")
    assert str(e.value) == "C:2: ENV must have two arguments"


def test_empty_file_is_an_error() -> None:
    with pytest.raises(ContainerfileError, match="file with no instructions"):
        parse("# only a comment\n\n", "C")
    with pytest.raises(ContainerfileError, match="C:1: file with no instructions"):
        parse("", "C")


def test_heredoc_run_with_body_and_lines() -> None:
    doc = parse("FROM a\nRUN <<EOF\necho $HOME\nEOF\nRUN b\n")
    run = doc.nodes[1]
    assert run.args == ["<<EOF"] and run.heredocs[0].content == "echo $HOME\n"
    assert run.heredocs[0].expand and (run.start_line, run.end_line) == (2, 4)
    assert doc.nodes[2].start_line == 5


def test_quoted_heredoc_delimiter_turns_expansion_off() -> None:
    for delim in ("'EOF'", '"EOF"', "E'O'F"):
        h = parse(f"FROM a\nCOPY <<{delim} /x\nbody\nEOF\n").nodes[1].heredocs[0]
        assert h.name == "EOF" and not h.expand


def test_chomped_and_numbered_and_several_heredocs() -> None:
    n = parse("FROM a\nRUN 3<<-A cat /dev/fd/3 <<B\n\t\tx\n\tA\ny\nB\n").nodes[1]
    a, b = n.heredocs
    assert (a.name, a.fd, a.chomp, a.body) == ("A", 3, True, "x\n")
    assert (b.name, b.content) == ("B", "y\n")


def test_unterminated_heredoc_is_an_error_naming_its_line() -> None:
    with pytest.raises(ContainerfileError) as e:
        parse("FROM a\nRUN <<EOF\necho\n", "C")
    assert e.value.line == 2 and "unterminated heredoc" in str(e.value)


def test_no_heredoc_in_exec_form_or_other_instructions() -> None:
    doc = parse('FROM a\nRUN ["cat", "<<EOF"]\nENV a=<<EOF\n')
    assert all(not n.heredocs for n in doc.nodes)


def test_onbuild_child_node() -> None:
    n = parse("FROM a\nONBUILD RUN echo x\n").nodes[1]
    assert n.sub is not None and n.sub.value == "run" and n.dump() == 'onbuild (run "echo x")'


def test_original_keeps_the_instruction_as_written() -> None:
    n = parse("FROM a\nRUN echo hi \\\n  there\n").nodes[1]
    assert n.original == "RUN echo hi   there"
