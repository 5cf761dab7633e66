"""Read the YAML file keeping its node tree, so every problem can name a line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml


class _Loader(yaml.SafeLoader):
    """SafeLoader that records duplicate keys (PyYAML silently keeps the last one)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[str, int]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int | float | bool) and key in seen:
                self.duplicates.append((str(key), key_node.start_mark.line + 1))
            seen.add(key if isinstance(key, str | int | float | bool) else id(key))
        return super().construct_mapping(node, deep=deep)


@dataclass
class YamlDocument:
    data: Any
    root: yaml.Node | None
    problems: list[str] = field(default_factory=list)  # already formatted, each with a line

    def line_of(self, loc: tuple[str | int, ...]) -> int | None:
        """Line (1-based) of the deepest node on `loc`: the key itself when the path ends at a key."""
        node = self.root
        line = None
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                        line = key_node.start_mark.line + 1
                        node = value_node
                        break
                else:
                    return line if line is not None else _start(node)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = _start(node)
            else:
                break
        return line


def _start(node: yaml.Node | None) -> int | None:
    return None if node is None else node.start_mark.line + 1


def parse_yaml(text: str) -> YamlDocument:
    """Never raises for bad input: syntax errors come back as problems with line and column.

    Messages quote PyYAML's problem text only, never the offending source line (it may hold a secret).
    """
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        what = exc.problem or exc.context or "invalid YAML"
        return YamlDocument(data=None, root=None, problems=[f"YAML syntax error at {where}: {what}"])
    except yaml.YAMLError as exc:
        return YamlDocument(data=None, root=None, problems=[f"YAML error: {type(exc).__name__}"])
    finally:
        loader.dispose()
    problems = [f"{key}: duplicate key (line {line})" for key, line in loader.duplicates]
    return YamlDocument(data=data, root=root, problems=problems)
