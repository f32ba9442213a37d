"""The OpenAPI 3.1 document (`/openapi.json`), built from the `@spec` declarations of the
routes (api.spec) and their pydantic models."""

import re

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api import INT_MAX, Error

ERRORES_COMUNES = {
    400: "Datos no válidos", 401: "No autenticado", 403: "Prohibido", 404: "No encontrado",
    409: "Conflicto", 412: "Versión obsoleta", 413: "Cuerpo demasiado grande",
    415: "Tipo de contenido no soportado", 429: "Demasiadas peticiones",
    500: "Error interno", 503: "Base de datos no disponible",
}
_PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def _path_and_params(rule):
    params = []
    for converter, name in _PATH_PARAM.findall(rule.rule):
        schema = ({"type": "integer", "minimum": 0, "maximum": INT_MAX} if converter == "int"
                  else {"type": "string"})
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return _PATH_PARAM.sub(r"{\2}", rule.rule), params


DESCRIPCION = """API REST de historias clínicas: pacientes, médicos, citas, diagnósticos, \
tratamientos y recetas.

## Entrada

- **Cuerpos**: como máximo 1 MiB, se envíen con `Content-Length` o por trozos \
(`Transfer-Encoding: chunked`); uno mayor recibe 413 `demasiado_grande` antes de que ninguna \
operación lo procese, también en las que no leen cuerpo.
- **Texto**: ningún texto de un cuerpo ni de la consulta (`q`, `especialidad`...) admite \
caracteres de control, de ancho cero, de formato ni de control de la dirección del texto \
(incrustaciones, anulaciones y aislamientos bidireccionales), guiones blandos, separadores de \
línea o de párrafo ni sustitutos sueltos (`\\ud800`). Los campos de texto libre \
(`descripcion`, `motivo`, `antecedentes`, `alergias`, `indicaciones`, `direccion`) admiten \
además saltos de línea `\\n` y tabuladores; el retorno de carro `\\r` no se admite en \
ninguno. Todo `nombre` debe contener al menos una letra. Las contraseñas, que sólo se guardan \
como hash, admiten cualquier carácter salvo un sustituto suelto. Un `correo` se compara en \
forma canónica, sin los blancos que lo rodeen (espacios, tabuladores, saltos de línea); dentro \
de él tampoco se admiten. Incumplirlo es 400 `validacion`, con `detalles` nombrando cada campo \
(`paciente.nombre`, `permisos.0`).
- **Cursores**: opacos; uno que no haya creado la API (o cuyos valores no tengan el tipo de la \
columna de orden) es 400 `validacion` en el campo `cursor`.
- **`X-Motivo-Acceso`** se lee como UTF-8; si no es UTF-8 válido o contiene caracteres de \
control, 400 `validacion` con `campo` igual al nombre de la cabecera.
- **`X-Request-ID`** se adopta sólo si tiene de 1 a 64 caracteres de `[A-Za-z0-9._-]`; si no, \
no se rechaza la petición: se genera otro, que es el que se devuelve, se registra y se audita.

## Salida

- Las URL absolutas (`Link`, `fullUrl` de FHIR) se construyen con `URL_PUBLICA`, nunca con la \
cabecera `Host`. Una ruta con barras dobles (`/pacientes//1`) es 404, no una redirección.
- Toda respuesta lleva `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` y \
`Content-Security-Policy` con `frame-ancestors 'none'` (los datos de la API además con \
`default-src 'none'`); las respuestas CORS y las cacheables (`/docs`, `/openapi.json`) llevan \
`Vary: Origin`.
- Los registros (de la aplicación y de gunicorn) anotan la ruta sin la consulta, nunca \
términos de búsqueda ni datos de pacientes, con los caracteres de control escapados.
"""
# Swagger UI groups by tag: the names modules use, as a reader writes them.
ETIQUETAS = {"auth": "autenticación", "auditoria": "auditoría", "cie10": "CIE-10",
             "diagnosticos": "diagnósticos", "medicos": "médicos", "operacion": "operación",
             "fhir_export": "FHIR"}


def build_openapi(app):
    """The OpenAPI 3.1 document of every route that declared itself with `@spec`."""
    models, ops = set(), []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        meta = getattr(view, "_api", None)
        if meta is None:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            ops.append((rule, method, meta, getattr(view, "_auth", None)))
            models.update(m for m in [meta["body"], meta["query"], *meta["responses"].values()]
                          if isinstance(m, type) and issubclass(m, BaseModel))
    models.add(Error)
    keyed = sorted(((m, "validation") for m in models), key=lambda x: x[0].__name__)
    schemas, top = models_json_schema(keyed, ref_template="#/components/schemas/{model}")
    components = top.get("$defs", {})

    def ref(model):
        return schemas[(model, "validation")]

    paths = {}
    for rule, method, meta, auth in ops:
        path, params = _path_and_params(rule)
        op = {
            "summary": meta["summary"] or rule.endpoint,
            "operationId": f"{rule.endpoint}_{method.lower()}".replace(".", "_"),
            "tags": [ETIQUETAS.get(t, t) for t in meta["tags"] or [rule.endpoint.split(".")[0]]],
            "responses": {},
        }
        if meta["description"]:
            op["description"] = meta["description"]
        if meta["query"] is not None:
            qschema = meta["query"].model_json_schema(ref_template="#/components/schemas/{model}")
            required = set(qschema.get("required", []))
            for name, prop in qschema.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in required,
                               "schema": {k: v for k, v in prop.items() if k != "title"}})
        if params:
            op["parameters"] = params
        if meta["body"] is not None:
            op["requestBody"] = {"required": True,
                                 "content": {"application/json": {"schema": ref(meta["body"])}}}
        for status, model in meta["responses"].items():
            entry = {"description": "Correcto" if status < 300 else ERRORES_COMUNES.get(status, "")}
            if isinstance(model, dict) and "content" in model:
                entry.update(model)
            elif model is not None:
                schema = ref(model) if isinstance(model, type) else model
                entry["content"] = {"application/json": {"schema": schema}}
            op["responses"][str(status)] = entry
        errors = set(meta["errors"]) | {500, 503}
        if meta["body"] is not None:
            errors |= {400, 413, 415}
        if meta["query"] is not None or params:
            errors |= {400}
        if auth is not None:
            # Row-level rules (own data, care relation) can refuse any secured operation.
            errors |= {401, 403}
            op["security"] = [{"bearer": []}]
        else:
            op["security"] = []
        if any(p["in"] == "path" for p in params):
            errors |= {404}
        if method in ("PUT", "PATCH", "DELETE"):
            errors |= {412}
        if method != "GET":
            # A write that keeps meeting simultaneous ones answers 409 with Retry-After.
            errors |= {409}
        for status in sorted(errors):
            op["responses"].setdefault(str(status), {
                "description": ERRORES_COMUNES[status],
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            })
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Historial Médico API", "version": "1.0.0",
                 "description": DESCRIPCION},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
