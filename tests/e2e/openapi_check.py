"""Checks responses against openapi.yaml, standard library only.

Python's standard library has no YAML parser, so this reads the block-style
YAML subset openapi.yaml is written in: mappings, `- ` sequences, flow
sequences of scalars, `{}`/`[]`, quoted and plain scalars, comments. Anything
outside the subset raises, so the spec cannot silently drift out of what is
checked. The validator covers the JSON Schema keywords the spec uses: $ref,
type (string or list), properties, required, additionalProperties: false,
items, enum, const, minimum/maximum, exclusiveMinimum, oneOf, anyOf.
"""
import json
import re


# ---- YAML subset ---------------------------------------------------------------------

def _strip_comment(s):
    out, q = [], None
    for i, ch in enumerate(s):
        if q:
            if ch == q and (q == "'" or s[i - 1] != "\\"):
                q = None
        elif ch in "\"'":
            q = ch
        elif ch == "#" and (i == 0 or s[i - 1] == " "):
            break
        out.append(ch)
    return "".join(out).rstrip()


def _scalar(s):
    s = s.strip()
    if s == "":
        return None
    if s.startswith('"'):
        return json.loads(s)
    if s.startswith("'"):
        if not s.endswith("'"):
            raise ValueError("unterminated quote: " + s)
        return s[1:-1].replace("''", "'")
    if s == "{}":
        return {}
    if s == "[]":
        return []
    if s.startswith("["):
        if not s.endswith("]"):
            raise ValueError("flow sequence must end on its line: " + s)
        return [_scalar(x) for x in _split_flow(s[1:-1])]
    if s.startswith("{") or s.startswith("|") or s.startswith(">") or s.startswith("&") or s.startswith("*"):
        raise ValueError("outside the YAML subset: " + s)
    if s in ("true", "false"):
        return s == "true"
    if s in ("null", "~"):
        return None
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    if re.fullmatch(r"-?\d+\.\d*([eE][-+]?\d+)?|-?\d+[eE][-+]?\d+", s):
        return float(s)
    return s


def _split_flow(s):
    parts, cur, q = [], [], None
    for ch in s:
        if q:
            cur.append(ch)
            if ch == q:
                q = None
        elif ch in "\"'":
            q = ch
            cur.append(ch)
        elif ch == ",":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return parts


def _key_split(s):
    """'key: rest' -> (key, rest) or None; honours quoted keys."""
    if s.startswith('"') or s.startswith("'"):
        end = s.index(s[0], 1)
        key, rest = s[1:end], s[end + 1:]
        if not rest.startswith(":"):
            return None
        return key, rest[1:]
    m = re.match(r"^([^:\s][^:]*?):(\s|$)(.*)$", s)
    if not m:
        return None
    return m.group(1), m.group(3)


def parse_yaml(text):
    lines = []
    for raw in text.splitlines():
        if "\t" in raw[:len(raw) - len(raw.lstrip())]:
            raise ValueError("tabs in indentation")
        s = _strip_comment(raw)
        if s.strip() == "" or s.strip() == "---":
            continue
        lines.append((len(s) - len(s.lstrip(" ")), s.strip()))
    pos = [0]

    def block(indent):
        if pos[0] >= len(lines):
            return None
        ind, s = lines[pos[0]]
        if ind < indent:
            return None
        if s.startswith("- ") or s == "-":
            return seq(ind)
        return mapping(ind)

    def mapping(indent, first=None):
        out = {}
        while pos[0] < len(lines) or first:
            if first is not None:
                s, first = first, None
            else:
                ind, s = lines[pos[0]]
                if ind < indent:
                    break
                if ind > indent:
                    raise ValueError("bad indentation at: " + s)
                if s.startswith("- "):
                    break
                pos[0] += 1
            kv = _key_split(s)
            if kv is None:
                raise ValueError("expected 'key: value': " + s)
            k, rest = kv
            if k in out:
                raise ValueError("duplicate key: " + k)
            if rest.strip():
                out[k] = _scalar(rest)
            else:
                nxt = lines[pos[0]][0] if pos[0] < len(lines) else -1
                if nxt > indent:
                    out[k] = block(nxt)
                elif nxt == indent and pos[0] < len(lines) and lines[pos[0]][1].startswith("- "):
                    out[k] = seq(indent)
                else:
                    out[k] = None
        return out

    def seq(indent):
        out = []
        while pos[0] < len(lines):
            ind, s = lines[pos[0]]
            if ind != indent or not (s.startswith("- ") or s == "-"):
                break
            pos[0] += 1
            item = s[2:].strip() if s != "-" else ""
            if item == "":
                out.append(block(lines[pos[0]][0]) if pos[0] < len(lines) and lines[pos[0]][0] > indent else None)
            elif _key_split(item) and not item.startswith(("\"", "'", "[")):
                out.append(mapping(indent + 2, first=item))
            else:
                out.append(_scalar(item))
        return out

    result = block(0)
    if pos[0] != len(lines):
        raise ValueError("unparsed input at: " + lines[pos[0]][1])
    return result


def load(path):
    with open(path, encoding="utf-8") as f:
        return parse_yaml(f.read())


# ---- validation ----------------------------------------------------------------------

class Mismatch(AssertionError):
    pass


def _resolve(spec, schema):
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise Mismatch("unsupported $ref " + ref)
        node = spec
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def _type_ok(t, v):
    return {
        "string": isinstance(v, str), "boolean": isinstance(v, bool), "null": v is None,
        "integer": isinstance(v, int) and not isinstance(v, bool),
        "number": isinstance(v, (int, float)) and not isinstance(v, bool),
        "object": isinstance(v, dict), "array": isinstance(v, list),
    }[t]


def validate(spec, schema, v, where="$"):
    schema = _resolve(spec, schema)
    if schema is True or schema == {}:
        return
    if "oneOf" in schema:
        ok = 0
        for s in schema["oneOf"]:
            try:
                validate(spec, s, v, where)
                ok += 1
            except Mismatch:
                pass
        if ok != 1:
            raise Mismatch("%s: matches %d of oneOf" % (where, ok))
    if "anyOf" in schema:
        for s in schema["anyOf"]:
            try:
                validate(spec, s, v, where)
                break
            except Mismatch:
                pass
        else:
            raise Mismatch("%s: matches none of anyOf" % where)
    t = schema.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        if not any(_type_ok(x, v) for x in types):
            raise Mismatch("%s: %r is not %s" % (where, v, t))
    if "const" in schema and v != schema["const"]:
        raise Mismatch("%s: %r != const %r" % (where, v, schema["const"]))
    if "enum" in schema and v not in schema["enum"]:
        raise Mismatch("%s: %r not in %r" % (where, v, schema["enum"]))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if "minimum" in schema and v < schema["minimum"]:
            raise Mismatch("%s: %r < minimum %r" % (where, v, schema["minimum"]))
        if "maximum" in schema and v > schema["maximum"]:
            raise Mismatch("%s: %r > maximum %r" % (where, v, schema["maximum"]))
        if "exclusiveMinimum" in schema and v <= schema["exclusiveMinimum"]:
            raise Mismatch("%s: %r <= exclusiveMinimum" % (where, v))
    if isinstance(v, dict):
        props = schema.get("properties", {})
        for r in schema.get("required", []):
            if r not in v:
                raise Mismatch("%s: missing required %r" % (where, r))
        for k, x in v.items():
            if k in props:
                validate(spec, props[k], x, where + "." + k)
            elif schema.get("additionalProperties") is False:
                raise Mismatch("%s: property %r not in the spec" % (where, k))
    if isinstance(v, list) and "items" in schema:
        for i, x in enumerate(v):
            validate(spec, schema["items"], x, "%s[%d]" % (where, i))


def check_schema(spec, name, value):
    validate(spec, {"$ref": "#/components/schemas/" + name}, value, name)


def check_response(spec, method, path, status, content_type, body):
    """Raises Mismatch unless the spec documents this status for this route with this
    content type and the JSON body matches its schema."""
    op = spec["paths"].get(path, {}).get(method)
    if op is None:
        # Unknown routes and methods answer with the documented generic errors.
        op = spec["x-unrouted"]
    responses = op["responses"]
    resp = responses.get(str(status)) or responses.get("default")
    if resp is None:
        raise Mismatch("%s %s: status %d is not documented" % (method, path, status))
    resp = _resolve(spec, resp)
    ctype = content_type.split(";")[0].strip()
    content = resp.get("content", {})
    if ctype not in content:
        raise Mismatch("%s %s %d: content type %r not documented (%s)" % (method, path, status, ctype,
                                                                          list(content)))
    schema = content[ctype].get("schema")
    if schema is not None and ctype == "application/json":
        validate(spec, schema, body, "%s %s %d" % (method, path, status))
