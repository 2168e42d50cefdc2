#!/usr/bin/env python3
"""Extract the ARM request-body definitions mlcanary's Azure fake validates against, from the
models that azure-ai-ml generates from the Microsoft.MachineLearningServices REST specification
(azure/ai/ml/_restclient/arm_ml_service, api-version 2025-12-01, the one mlcanary sends).

Reads the wheel statically (ast): nothing is imported, so none of azure-ai-ml's dependencies are
needed. Writes JSON: {apiVersion, source, models: {Name: {base, discriminator, discriminatorValue,
fields: {restName: {type, visibility}}, required: [restName]}}}. A field whose visibility lacks
"create" and "update" is read-only: a client must not send it.

usage: azure_arm_schema.py WHEEL OUT.json
"""
import ast
import json
import sys
import zipfile

PKG = "azure/ai/ml/_restclient/arm_ml_service/"


def read(wheel, name):
    with zipfile.ZipFile(wheel) as z:
        return z.read(PKG + name).decode("utf-8")


def api_version(wheel):
    tree = ast.parse(read(wheel, "_configuration.py"))
    for node in ast.walk(tree):
        # api_version: str = kwargs.pop("api_version", "2025-12-01")
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "pop":
            args = node.args
            if len(args) == 2 and getattr(args[0], "value", None) == "api_version":
                return args[1].value
    raise SystemExit("api_version not found in _configuration.py")


def enum_names(wheel):
    tree = ast.parse(read(wheel, "models/_enums.py"))
    return {n.name for n in tree.body if isinstance(n, ast.ClassDef)}


def type_of(node, enums):
    """A JSON type description of an annotation."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return type_of(ast.parse(node.value, mode="eval").body, enums)
    if isinstance(node, ast.Name):
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean",
                "Any": "any", "bytes": "string"}.get(node.id, "any")
    if isinstance(node, ast.Attribute):
        if isinstance(node.value, ast.Name) and node.value.id == "_models":
            return "string" if node.attr in enums else {"model": node.attr}
        if node.attr in ("datetime", "timedelta", "date", "time"):
            return "string"
        return "any"
    if isinstance(node, ast.Subscript):
        outer = node.slice
        head = node.value.id if isinstance(node.value, ast.Name) else getattr(node.value, "attr", "")
        args = list(outer.elts) if isinstance(outer, ast.Tuple) else [outer]
        if head == "Optional":
            return type_of(args[0], enums)
        if head == "Union":
            kinds = [type_of(a, enums) for a in args]
            return "string" if "string" in kinds else kinds[0]
        if head in ("dict", "Dict", "Mapping"):
            return {"dict": type_of(args[-1], enums)}
        if head in ("list", "List", "Sequence"):
            return {"list": type_of(args[0], enums)}
        if head == "Literal":
            return "string"
    return "any"


def keyword(call, name):
    for k in call.keywords:
        if k.arg == name:
            return ast.literal_eval(k.value)
    return None


def models(wheel, enums):
    tree = ast.parse(read(wheel, "models/_models.py"))
    out = {}
    for cls in tree.body:
        if not isinstance(cls, ast.ClassDef):
            continue
        base = next((b.id for b in cls.bases if isinstance(b, ast.Name) and b.id != "_Model"), None)
        disc_value = next((ast.literal_eval(k.value) for k in cls.keywords
                           if k.arg == "discriminator"), None)
        fields, attr_to_rest, discriminator = {}, {}, None
        required_attrs = None
        for st in cls.body:
            if (isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name)
                    and isinstance(st.value, ast.Call)
                    and getattr(st.value.func, "id", "") in ("rest_field", "rest_discriminator")):
                attr = st.target.id
                rest = keyword(st.value, "name") or attr
                attr_to_rest[attr] = rest
                fields[rest] = {"type": type_of(st.annotation, enums),
                                "visibility": keyword(st.value, "visibility") or []}
                if st.value.func.id == "rest_discriminator":
                    discriminator = rest
            if (isinstance(st, ast.FunctionDef) and st.name == "__init__" and required_attrs is None
                    and any(getattr(d, "id", "") == "overload" for d in st.decorator_list)):
                kw = st.args.kwonlyargs
                required_attrs = [a.arg for a, d in zip(kw, st.args.kw_defaults) if d is None]
        out[cls.name] = {"base": base, "discriminator": discriminator,
                         "discriminatorValue": disc_value, "fields": fields,
                         "requiredAttrs": required_attrs or []}
    return tree, out


def attr_tables(tree):
    tables = {}
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef):
            t = {}
            for st in cls.body:
                if (isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name)
                        and isinstance(st.value, ast.Call)
                        and getattr(st.value.func, "id", "") in ("rest_field", "rest_discriminator")):
                    t[st.target.id] = keyword(st.value, "name") or st.target.id
            tables[cls.name] = t
    return tables


def main():
    wheel, out_path = sys.argv[1], sys.argv[2]
    enums = enum_names(wheel)
    tree, ms = models(wheel, enums)
    tables = attr_tables(tree)
    for name, m in ms.items():
        required = []
        for attr in m.pop("requiredAttrs"):
            cls = name
            while cls and attr not in tables.get(cls, {}):
                cls = ms[cls]["base"] if cls in ms else None
            required.append(tables[cls][attr] if cls else attr)
        m["required"] = required
    doc = {"apiVersion": api_version(wheel),
           "source": wheel.rsplit("/", 1)[-1] + ": " + PKG + "models/_models.py",
           "models": ms}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
