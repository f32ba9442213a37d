"""/openapi.json describes every route of the app: parameters, bodies, responses, security."""

import re

from openapi_spec_validator import validate

# Static files of Swagger UI: not an API operation.
NOT_OPERATIONS = {"docs_asset"}


def flask_operations(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NOT_OPERATIONS:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            yield path, method.lower(), rule.endpoint


def test_every_flask_route_is_in_openapi(app, client):
    doc = client.get("/openapi.json").get_json()
    validate(doc)
    missing = [f"{m.upper()} {p} ({e})" for p, m, e in flask_operations(app)
               if m not in doc["paths"].get(p, {})]
    assert missing == []
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert documented == {(p, m) for p, m, _ in flask_operations(app)}


def test_every_operation_is_fully_described(app, client):
    doc = client.get("/openapi.json").get_json()
    problems = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            if not op.get("summary") or op["summary"] == op["operationId"]:
                problems.append(f"{where}: sin resumen")
            if "security" not in op:
                problems.append(f"{where}: sin seguridad")
            statuses = set(op["responses"])
            if not any(s.startswith("2") for s in statuses):
                problems.append(f"{where}: sin respuesta de éxito")
            if op["security"] and not {"401"} <= statuses:
                problems.append(f"{where}: falta 401")
            for param in re.findall(r"{(\w+)}", path):
                if not any(p["name"] == param and p["in"] == "path" for p in op.get("parameters", [])):
                    problems.append(f"{where}: falta el parámetro {param}")
            for status, response in op["responses"].items():
                if status != "204" and "content" not in response:
                    problems.append(f"{where}: {status} sin esquema")
    assert problems == []


def test_main_bodies_have_examples(client):
    doc = client.get("/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    for path, method in [("/auth/login", "post"), ("/pacientes", "post"), ("/citas", "post")]:
        ref = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = schemas[ref.rsplit("/", 1)[1]]
        assert "examples" in schema or any("examples" in p for p in schema["properties"].values()), path
