-- Migración 0003: invitaciones al portal de pacientes, nombres de rol en forma canónica,
-- el contador por cuenta y dirección del bloqueo de login, y las filas de serialización de
-- la agenda para un clúster Galera (Cerrojo).

CREATE TABLE IF NOT EXISTS Invitacion (
    ID_Invitacion      INT          NOT NULL AUTO_INCREMENT,
    ID_Paciente        INT          NOT NULL,
    Codigo_Hash        CHAR(64)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    Expira_En          DATETIME     NOT NULL,
    Usada_En           DATETIME     NULL,
    Intentos           SMALLINT     NOT NULL DEFAULT 0,
    ID_Usuario_Emisor  INT          NULL,
    ID_Usuario         INT          NULL,
    Creado_En          DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (ID_Invitacion),
    UNIQUE KEY uq_invitacion_codigo (Codigo_Hash),
    KEY ix_invitacion_paciente (ID_Paciente, Usada_En, Expira_En),
    CONSTRAINT fk_invitacion_paciente FOREIGN KEY (ID_Paciente) REFERENCES Paciente (ID_Paciente),
    CONSTRAINT fk_invitacion_emisor FOREIGN KEY (ID_Usuario_Emisor) REFERENCES Usuario (ID_Usuario),
    CONSTRAINT fk_invitacion_usuario FOREIGN KEY (ID_Usuario) REFERENCES Usuario (ID_Usuario)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS Cerrojo (
    Clave           VARCHAR(64)      NOT NULL,
    Cambios         BIGINT UNSIGNED  NOT NULL DEFAULT 1,
    Actualizado_En  DATETIME(6)      NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (Clave)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;

ALTER TABLE Intento_Login ADD KEY IF NOT EXISTS ix_intento_par (Correo, IP, Fecha);

-- Los roles del sistema son ya su forma canónica; para los propios se toma el nombre en
-- minúsculas (dos que sólo difieran en confundibles deben renombrarse antes).
ALTER TABLE Rol ADD COLUMN IF NOT EXISTS
    Nombre_Canonico VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL AFTER Sistema;
UPDATE Rol SET Nombre_Canonico = LOWER(TRIM(Nombre)) WHERE Nombre_Canonico IS NULL;
ALTER TABLE Rol MODIFY Nombre_Canonico VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
ALTER TABLE Rol ADD UNIQUE KEY IF NOT EXISTS uq_rol_canonico (Nombre_Canonico);
