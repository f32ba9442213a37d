-- Migración 0002: el nombre del usuario en cada fila de auditoría, tal como era en ese
-- momento (a9577f7). Las filas anteriores quedan con NULL.
ALTER TABLE Auditoria
    ADD COLUMN IF NOT EXISTS Nombre_Usuario VARCHAR(100) NULL AFTER ID_Usuario;
