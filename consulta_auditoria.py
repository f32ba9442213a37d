"""GET /auditoria: the audit trail read back, filtered and paged (no endpoint changes it)."""

from datetime import date, datetime, time, timedelta
from typing import Literal, Optional

from flask import Blueprint
from pydantic import BaseModel, Field, model_validator

from api import Lista, Orden, Pagina, paginate, spec
from auditoria import ACCIONES
from auth import requiere

bp = Blueprint("auditoria", __name__, url_prefix="/auditoria")

SELECT_AUDITORIA = """
    SELECT a.ID_Auditoria AS id_auditoria, a.Fecha AS fecha, a.ID_Usuario AS id_usuario,
           a.Nombre_Usuario AS nombre_usuario, a.Rol AS rol, a.Accion AS accion,
           a.Recurso AS recurso, a.ID_Recurso AS id_recurso, a.ID_Paciente AS id_paciente,
           a.IP AS ip, a.ID_Solicitud AS id_solicitud, a.Motivo AS motivo
      FROM Auditoria a
"""

# Newest first; the id follows insertion order, so it is the cursor and the sort key.
ORDEN = Orden(columns=("a.ID_Auditoria",), keys=("id_auditoria",), desc=True)


class FiltroAuditoria(Pagina):
    """Filtros de GET /auditoria (todos opcionales, combinados con Y)."""

    id_usuario: Optional[int] = Field(None, ge=1)
    id_paciente: Optional[int] = Field(None, ge=1)
    accion: Optional[Literal[ACCIONES]] = None
    desde: Optional[date] = Field(None, description="Desde este día (UTC), incluido")
    hasta: Optional[date] = Field(None, description="Hasta este día (UTC), incluido")

    @model_validator(mode="after")
    def rango_valido(self):
        if self.desde and self.hasta and self.desde > self.hasta:
            raise ValueError("desde no puede ser posterior a hasta")
        return self


class AuditoriaOut(BaseModel):
    """Una fila de la auditoría."""

    id_auditoria: int
    fecha: datetime
    id_usuario: Optional[int]
    nombre_usuario: Optional[str] = Field(None, description="Nombre del usuario en el momento "
                                                            "del acceso")
    rol: Optional[str] = Field(None, description="Rol del usuario en el momento del acceso")
    accion: Literal[ACCIONES]
    recurso: str
    id_recurso: Optional[str]
    id_paciente: Optional[int]
    ip: Optional[str]
    id_solicitud: Optional[str]
    motivo: Optional[str]


def filtros(query):
    """WHERE conditions and params of the query's filters (fixed SQL, values as params)."""
    sql, params = "", []
    for campo, columna in (("id_usuario", "a.ID_Usuario"), ("id_paciente", "a.ID_Paciente"),
                           ("accion", "a.Accion")):
        if getattr(query, campo) is not None:
            sql += f" AND {columna} = %s"
            params.append(getattr(query, campo))
    if query.desde is not None:
        sql += " AND a.Fecha >= %s"
        params.append(datetime.combine(query.desde, time()))
    if query.hasta is not None:
        sql += " AND a.Fecha < %s"
        params.append(datetime.combine(query.hasta + timedelta(days=1), time()))
    return sql, params


@bp.get("")
@requiere("auditoria:leer")
@spec(query=FiltroAuditoria, responses={200: Lista[AuditoriaOut]}, tags=["auditoria"],
      summary="Consultar el registro de auditoría")
def list_auditoria(query):
    """Del más reciente al más antiguo, filtrable por usuario, paciente, acción y días
    (`desde`/`hasta`, UTC, incluidos). Ningún endpoint modifica ni borra estas filas."""
    where, params = filtros(query)
    return paginate(query, SELECT_AUDITORIA, where, params, ORDEN,
                    count="SELECT COUNT(*) AS n FROM Auditoria a")
