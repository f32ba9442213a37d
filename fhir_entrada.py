"""The body of `POST /fhir/Patient` (fhir_api.py): models of the Patient elements this server
stores, and their translation into the JSON API's PacienteDatos, so that a FHIR create keeps
the rules of `POST /pacientes` (its errors named by FHIRPath).
"""

from datetime import date
from typing import Literal, Optional

from pydantic import Field, ValidationError

import datos_paciente
import fhir_export
from api import Modelo, validation_error
from errors import validacion


class NombreFHIR(Modelo):
    """`HumanName`: las partes que guarda este servidor (en un solo `nombre`)."""

    use: Optional[Literal["usual", "official", "temp", "nickname", "anonymous", "old",
                          "maiden"]] = None
    text: Optional[str] = Field(None, max_length=100)
    family: Optional[str] = Field(None, max_length=100)
    given: Optional[list[str]] = Field(None, max_length=5)
    extension: Optional[list[dict]] = Field(None, description="Se acepta y se ignora")


class ContactoFHIR(Modelo):
    """`ContactPoint`: se guardan un teléfono y un correo."""

    system: Literal["phone", "email"]
    value: str = Field(..., max_length=254)
    use: Optional[Literal["home", "work", "temp", "old", "mobile"]] = None
    rank: Optional[int] = Field(None, ge=1)
    extension: Optional[list[dict]] = Field(None, description="Se acepta y se ignora")


class IdentificadorFHIR(Modelo):
    """`Identifier`: el `documento` del paciente."""

    system: Optional[Literal["urn:historial-medico:documento"]] = None
    value: str = Field(..., max_length=30)
    use: Optional[Literal["usual", "official", "temp", "secondary", "old"]] = None
    extension: Optional[list[dict]] = Field(None, description="Se acepta y se ignora")


class DireccionFHIR(Modelo):
    """`Address`: se guarda como una línea de texto (`direccion`)."""

    use: Optional[Literal["home", "work", "temp", "old", "billing"]] = None
    text: Optional[str] = Field(None, max_length=255)
    line: Optional[list[str]] = Field(None, max_length=5)
    city: Optional[str] = Field(None, max_length=100)
    postalCode: Optional[str] = Field(None, max_length=20)
    country: Optional[str] = Field(None, max_length=100)
    extension: Optional[list[dict]] = Field(None, description="Se acepta y se ignora")


class PatientFHIR(Modelo):
    """Cuerpo de `POST /fhir/Patient`: los elementos de `Patient` que guarda este servidor;
    `meta`, `text`, `extension` (e `id`, que asigna el servidor) se admiten y se ignoran."""

    resourceType: Literal["Patient"]
    id: Optional[str] = Field(None, max_length=64, description="Se ignora: lo asigna el servidor")
    meta: Optional[dict] = Field(None, description="Se acepta y se ignora")
    text: Optional[dict] = Field(None, description="Se acepta y se ignora")
    extension: Optional[list[dict]] = Field(None, description="Se acepta y se ignora")
    language: Optional[str] = Field(None, max_length=20, description="Se acepta y se ignora")
    identifier: Optional[list[IdentificadorFHIR]] = Field(None, max_length=1)
    name: list[NombreFHIR] = Field(..., min_length=1, max_length=1)
    telecom: list[ContactoFHIR] = Field(..., min_length=1, max_length=2,
                                        description="Un teléfono (obligatorio) y un correo")
    gender: Literal["male", "female", "other"]
    birthDate: date = Field(..., examples=["1975-03-09"])
    address: Optional[list[DireccionFHIR]] = Field(None, max_length=1)


def _origenes(body):
    """Where each field of datos_paciente.PacienteDatos comes from in the Patient resource."""
    telecom = {c.system: i for i, c in enumerate(body.telecom)}
    return {"nombre": "name.0", "fecha_nacimiento": "birthDate", "genero": "gender",
            "telefono": f"telecom.{telecom.get('phone', 0)}.value",
            "correo": f"telecom.{telecom.get('email', 0)}.value",
            "documento": "identifier.0.value", "direccion": "address.0"}


def datos_de_patient(body):
    """The PacienteDatos dict of a Patient resource, validated by the JSON API's own model,
    or 400 naming the element of the resource (FHIRPath) that is wrong."""
    sistemas = [c.system for c in body.telecom]
    for system in ("phone", "email"):
        if sistemas.count(system) > 1:
            raise validacion("telecom", f"sólo se admite un {system}")
    if "phone" not in sistemas:
        raise validacion("telecom", "falta el teléfono (system phone)")
    nombre = body.name[0]
    texto = nombre.text or " ".join([*(nombre.given or []), nombre.family or ""]).strip()
    direccion = None
    if body.address:
        a = body.address[0]
        direccion = a.text or ", ".join(filter(None, [*(a.line or []), a.postalCode, a.city,
                                                      a.country])) or None
    telecom = {c.system: c.value for c in body.telecom}
    datos = {"nombre": texto, "fecha_nacimiento": body.birthDate.isoformat(),
             "genero": fhir_export.GENERO_DE[body.gender], "telefono": telecom["phone"],
             "correo": telecom.get("email"),
             "documento": body.identifier[0].value if body.identifier else None,
             "direccion": direccion}
    try:
        return datos_paciente.PacienteDatos.model_validate(datos).model_dump()
    except ValidationError as err:
        error, origen = validation_error(err), _origenes(body)
        for detalle in error.detalles:
            detalle["campo"] = origen.get(detalle["campo"].split(".")[0], "cuerpo")
        raise error from None
