-- Historial Médico: esquema completo.
--
-- Es la descripción legible del esquema actual. `flask --app app init-db` no ejecuta este
-- archivo: aplica en orden las migraciones de `migraciones/` (0001_esquema_inicial.sql, ...),
-- y tests/test_migraciones.py comprueba que ambos caminos dan exactamente el mismo esquema.
-- Un cambio de esquema es una migración nueva *y* su reflejo aquí.
--
-- También se puede cargar a mano sobre una base vacía:
--     mysql -u root -p historial_medico < "Base de Datos Final.sql"
-- (después, `init-db` la trata como una base de una versión anterior: le aplica las
-- migraciones, escritas para ser re-ejecutables). Puede ejecutarse otra vez sin error ni
-- cambios (CREATE ... IF NOT EXISTS, INSERT IGNORE).
--
-- Válido en MySQL 8.0.16+ y MariaDB 10.6+ (las migraciones usan `ALTER ... IF NOT EXISTS`
-- de MariaDB 10.6+). Decisiones comunes a ambos:
--   * Fechas y horas en UTC: la aplicación fija time_zone = '+00:00' en cada conexión.
--   * Las columnas generadas son STORED (ambos motores las indexan sin sorpresas).
--   * Los CHECK se cumplen en los dos (MySQL ≥ 8.0.16, MariaDB ≥ 10.2).
--   * Los nombres heredados del esquema original llevan tilde (`Médico`, `Teléfono`...)
--     y por eso se citan siempre con acentos graves.

SET NAMES utf8mb4;

-- ---------------------------------------------------------------------------
-- Roles y permisos
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS Rol (
    ID_Rol       INT          NOT NULL AUTO_INCREMENT,
    Nombre       VARCHAR(50)  NOT NULL,
    Descripcion  VARCHAR(255) NOT NULL DEFAULT '',
    Sistema      BOOLEAN      NOT NULL DEFAULT FALSE,
    -- Forma canónica del nombre (NFKC, sin mayúsculas, tildes ni caracteres invisibles, letras
    -- confundibles plegadas; roles.nombre_canonico): `admin` con guion blando o con una `а`
    -- cirílica choca aquí, también entre dos altas simultáneas.
    Nombre_Canonico  VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    Creado_En    DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (ID_Rol),
    UNIQUE KEY uq_rol_nombre (Nombre),
    UNIQUE KEY uq_rol_canonico (Nombre_Canonico)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS Rol_Permiso (
    ID_Rol   INT         NOT NULL,
    Permiso  VARCHAR(40) NOT NULL,
    PRIMARY KEY (ID_Rol, Permiso),
    CONSTRAINT fk_rolpermiso_rol FOREIGN KEY (ID_Rol) REFERENCES Rol (ID_Rol) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- ---------------------------------------------------------------------------
-- Pacientes y médicos
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS Paciente (
    ID_Paciente         INT           NOT NULL AUTO_INCREMENT,
    Nombre              VARCHAR(100)  NOT NULL,
    -- Nombre en minúsculas y sin tildes: clave de orden y de búsqueda (se rellena en Python).
    Nombre_Normalizado  VARCHAR(100)  NOT NULL,
    Fecha_Nacimiento    DATE          NOT NULL,
    `Género`            ENUM('Masculino', 'Femenino', 'Otro') NOT NULL,
    `Teléfono`          VARCHAR(20)   NOT NULL,
    Documento           VARCHAR(30)   NULL,
    Correo              VARCHAR(254)  NULL,
    Direccion           VARCHAR(255)  NULL,
    Tipo_Sangre         ENUM('A+', 'A-', 'B+', 'B-', 'AB+', 'AB-', 'O+', 'O-') NULL,
    Alergias            TEXT          NULL,
    Activo              BOOLEAN       NOT NULL DEFAULT TRUE,
    -- Versión de la fila: la ETag. Cada escritura la incrementa.
    Version             INT           NOT NULL DEFAULT 1,
    Creado_En           DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    Actualizado_En      DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (ID_Paciente),
    UNIQUE KEY uq_paciente_documento (Documento),
    KEY ix_paciente_nombre (Nombre_Normalizado, ID_Paciente),
    KEY ix_paciente_activo_nombre (Activo, Nombre_Normalizado, ID_Paciente),
    KEY ix_paciente_genero_nombre (`Género`, Nombre_Normalizado, ID_Paciente),
    -- Listas por id filtradas por activo o género (orden=id|-id), sin recorrer toda la tabla.
    KEY ix_paciente_activo_id (Activo, ID_Paciente),
    KEY ix_paciente_genero_id (`Género`, ID_Paciente),
    CONSTRAINT ck_paciente_nombre CHECK (CHAR_LENGTH(Nombre) BETWEEN 1 AND 100),
    CONSTRAINT ck_paciente_telefono CHECK (CHAR_LENGTH(`Teléfono`) BETWEEN 7 AND 20)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Prefijos (1 a 4 letras) de cada palabra del nombre normalizado, con la clave de orden
-- copiada: `q` se resuelve con un recorrido de índice ya ordenado, sin ordenar todas las
-- coincidencias, y el coste crece con la página, no con la tabla.
CREATE TABLE IF NOT EXISTS Paciente_Prefijo (
    Prefijo             VARCHAR(4)    NOT NULL,
    -- Misma intercalación que Paciente.Nombre_Normalizado: el mismo orden en ambas tablas.
    Nombre_Normalizado  VARCHAR(100)  COLLATE utf8mb4_unicode_ci NOT NULL,
    ID_Paciente         INT           NOT NULL,
    PRIMARY KEY (Prefijo, Nombre_Normalizado, ID_Paciente),
    KEY ix_prefijo_id (Prefijo, ID_Paciente),
    KEY ix_prefijo_paciente (ID_Paciente),
    CONSTRAINT fk_prefijo_paciente FOREIGN KEY (ID_Paciente) REFERENCES Paciente (ID_Paciente) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `Médico` (
    `ID_Médico`         INT           NOT NULL AUTO_INCREMENT,
    Nombre              VARCHAR(100)  NOT NULL,
    Nombre_Normalizado  VARCHAR(100)  NOT NULL,
    Especialidad        VARCHAR(100)  NOT NULL,
    `Teléfono`          VARCHAR(20)   NOT NULL,
    Correo              VARCHAR(254)  NULL,
    Licencia            VARCHAR(50)   NULL,
    Activo              BOOLEAN       NOT NULL DEFAULT TRUE,
    Version             INT           NOT NULL DEFAULT 1,
    Creado_En           DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    Actualizado_En      DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (`ID_Médico`),
    UNIQUE KEY uq_medico_licencia (Licencia),
    KEY ix_medico_nombre (Nombre_Normalizado, `ID_Médico`),
    KEY ix_medico_especialidad (Especialidad, Nombre_Normalizado, `ID_Médico`),
    CONSTRAINT ck_medico_nombre CHECK (CHAR_LENGTH(Nombre) BETWEEN 1 AND 100)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- ---------------------------------------------------------------------------
-- Usuarios, sesiones e intentos de acceso
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS Usuario (
    ID_Usuario      INT           NOT NULL AUTO_INCREMENT,
    Nombre          VARCHAR(100)  NOT NULL,
    Correo          VARCHAR(254)  NOT NULL,
    Password_Hash   VARCHAR(100)  NOT NULL,
    ID_Rol          INT           NOT NULL,
    ID_Paciente     INT           NULL,
    `ID_Médico`     INT           NULL,
    Activo          BOOLEAN       NOT NULL DEFAULT TRUE,
    Version         INT           NOT NULL DEFAULT 1,
    Creado_En       DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    Actualizado_En  DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (ID_Usuario),
    UNIQUE KEY uq_usuario_correo (Correo),
    UNIQUE KEY uq_usuario_paciente (ID_Paciente),
    UNIQUE KEY uq_usuario_medico (`ID_Médico`),
    KEY ix_usuario_rol (ID_Rol, ID_Usuario),
    KEY ix_usuario_activo (Activo, ID_Usuario),
    CONSTRAINT fk_usuario_rol FOREIGN KEY (ID_Rol) REFERENCES Rol (ID_Rol),
    CONSTRAINT fk_usuario_paciente FOREIGN KEY (ID_Paciente) REFERENCES Paciente (ID_Paciente),
    CONSTRAINT fk_usuario_medico FOREIGN KEY (`ID_Médico`) REFERENCES `Médico` (`ID_Médico`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Una sesión es una familia de refresh tokens. Los access tokens llevan su ID_Sesion (`sid`):
-- revocar la sesión invalida a la vez el access token y toda la familia, en todos los procesos.
CREATE TABLE IF NOT EXISTS Sesion (
    ID_Sesion     CHAR(32)     NOT NULL,
    ID_Usuario    INT          NOT NULL,
    -- El único refresh token vigente de la familia; presentar otro es reutilización.
    Refresh_JTI   CHAR(32)     NOT NULL,
    Revocada      BOOLEAN      NOT NULL DEFAULT FALSE,
    Creado_En     DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    Expira_En     DATETIME     NOT NULL,
    PRIMARY KEY (ID_Sesion),
    KEY ix_sesion_usuario (ID_Usuario, Revocada),
    CONSTRAINT fk_sesion_usuario FOREIGN KEY (ID_Usuario) REFERENCES Usuario (ID_Usuario) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;

CREATE TABLE IF NOT EXISTS Intento_Login (
    ID_Intento  BIGINT        NOT NULL AUTO_INCREMENT,
    -- SHA-256 (hex) del peso de intercalación de la forma canónica del correo intentado
    -- (auth.clave_cuenta), nunca el texto: podría ser una contraseña mal tecleada.
    Correo      VARCHAR(254)  NOT NULL,
    IP          VARCHAR(45)   NOT NULL,
    Fecha       DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (ID_Intento),
    KEY ix_intento_correo (Correo, Fecha),
    -- Fallos de una cuenta desde una dirección (el par que se bloquea primero).
    KEY ix_intento_par (Correo, IP, Fecha),
    KEY ix_intento_ip (IP, Fecha),
    -- Borrado de los intentos que ya no mira ninguna ventana.
    KEY ix_intento_fecha (Fecha)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Códigos de alta de un solo uso para el portal del paciente (POST /pacientes/<id>/invitacion).
-- Sólo se guarda el SHA-256 del código. Emitir uno nuevo anula los anteriores sin usar
-- (Expira_En = ahora); restaurar una copia anula todos los que no se usaron.
CREATE TABLE IF NOT EXISTS Invitacion (
    ID_Invitacion      INT          NOT NULL AUTO_INCREMENT,
    ID_Paciente        INT          NOT NULL,
    Codigo_Hash        CHAR(64)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    -- UTC, como todas las fechas.
    Expira_En          DATETIME     NOT NULL,
    Usada_En           DATETIME     NULL,
    -- Fechas de nacimiento erróneas presentadas con este código (al llegar a 5 caduca).
    Intentos           SMALLINT     NOT NULL DEFAULT 0,
    ID_Usuario_Emisor  INT          NULL,
    -- El usuario que se dio de alta con él.
    ID_Usuario         INT          NULL,
    Creado_En          DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (ID_Invitacion),
    UNIQUE KEY uq_invitacion_codigo (Codigo_Hash),
    KEY ix_invitacion_paciente (ID_Paciente, Usada_En, Expira_En),
    CONSTRAINT fk_invitacion_paciente FOREIGN KEY (ID_Paciente) REFERENCES Paciente (ID_Paciente),
    CONSTRAINT fk_invitacion_emisor FOREIGN KEY (ID_Usuario_Emisor) REFERENCES Usuario (ID_Usuario),
    CONSTRAINT fk_invitacion_usuario FOREIGN KEY (ID_Usuario) REFERENCES Usuario (ID_Usuario)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- ---------------------------------------------------------------------------
-- Citas
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS Cita (
    ID_Cita         INT           NOT NULL AUTO_INCREMENT,
    Fecha           DATE          NOT NULL,
    Hora            TIME          NOT NULL,
    Duracion_Min    SMALLINT      NOT NULL DEFAULT 30,
    Estado          ENUM('Pendiente', 'Confirmada', 'Cancelada', 'Completada', 'No_Asistio') NOT NULL DEFAULT 'Pendiente',
    Motivo          VARCHAR(500)  NULL,
    ID_Paciente     INT           NOT NULL,
    `ID_Médico`     INT           NOT NULL,
    Inicio          DATETIME      AS (TIMESTAMP(Fecha, Hora)) STORED,
    Fin             DATETIME      AS (TIMESTAMP(Fecha, Hora) + INTERVAL Duracion_Min MINUTE) STORED,
    -- 1 mientras la cita ocupa tiempo, NULL si está cancelada: los UNIQUE de abajo impiden dos
    -- citas activas que empiecen a la vez (respaldo del bloqueo que hace la aplicación).
    Activa          TINYINT       AS (IF(Estado = 'Cancelada', NULL, 1)) STORED,
    Version         INT           NOT NULL DEFAULT 1,
    Creado_En       DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    Actualizado_En  DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (ID_Cita),
    UNIQUE KEY uq_cita_medico_inicio (`ID_Médico`, Inicio, Activa),
    UNIQUE KEY uq_cita_paciente_inicio (ID_Paciente, Inicio, Activa),
    KEY ix_cita_medico_fecha (`ID_Médico`, Fecha, Hora, ID_Cita),
    KEY ix_cita_paciente_fecha (ID_Paciente, Fecha, Hora, ID_Cita),
    KEY ix_cita_fecha (Fecha, Hora, ID_Cita),
    KEY ix_cita_estado_fecha (Estado, Fecha, Hora, ID_Cita),
    CONSTRAINT fk_cita_paciente FOREIGN KEY (ID_Paciente) REFERENCES Paciente (ID_Paciente),
    CONSTRAINT fk_cita_medico FOREIGN KEY (`ID_Médico`) REFERENCES `Médico` (`ID_Médico`),
    CONSTRAINT ck_cita_duracion CHECK (Duracion_Min BETWEEN 5 AND 240)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS Cita_Estado (
    ID_Cita_Estado  BIGINT        NOT NULL AUTO_INCREMENT,
    ID_Cita         INT           NOT NULL,
    Estado          ENUM('Pendiente', 'Confirmada', 'Cancelada', 'Completada', 'No_Asistio') NOT NULL,
    Fecha           DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    ID_Usuario      INT           NULL,
    Motivo          VARCHAR(500)  NULL,
    PRIMARY KEY (ID_Cita_Estado),
    KEY ix_citaestado_cita (ID_Cita, ID_Cita_Estado),
    CONSTRAINT fk_citaestado_cita FOREIGN KEY (ID_Cita) REFERENCES Cita (ID_Cita),
    CONSTRAINT fk_citaestado_usuario FOREIGN KEY (ID_Usuario) REFERENCES Usuario (ID_Usuario)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Puntos de serialización: una fila por agenda ('medico:<id>', 'paciente:<id>') o regla de
-- conjunto ('administradores') que las transacciones que la protegen escriben al empezar.
-- Dos transacciones que escriben la misma fila chocan también en un clúster Galera, donde los
-- bloqueos de SELECT ... FOR UPDATE no salen del nodo: la certificación deja pasar una sola.
CREATE TABLE IF NOT EXISTS Cerrojo (
    Clave           VARCHAR(64)      NOT NULL,
    Cambios         BIGINT UNSIGNED  NOT NULL DEFAULT 1,
    Actualizado_En  DATETIME(6)      NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (Clave)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;

-- ---------------------------------------------------------------------------
-- Historial clínico
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS `Historial_Médico` (
    ID_Historial    INT          NOT NULL AUTO_INCREMENT,
    ID_Paciente     INT          NOT NULL,
    Fecha_Creacion  DATE         NOT NULL,
    Antecedentes    TEXT         NULL,
    Version         INT          NOT NULL DEFAULT 1,
    Actualizado_En  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (ID_Historial),
    UNIQUE KEY uq_historial_paciente (ID_Paciente),
    CONSTRAINT fk_historial_paciente FOREIGN KEY (ID_Paciente) REFERENCES Paciente (ID_Paciente)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Catálogo CIE-10 en español (lo llena `flask --app app init-db` desde el paquete `cie`).
CREATE TABLE IF NOT EXISTS CIE10 (
    Codigo                   VARCHAR(10)   NOT NULL,
    Descripcion              VARCHAR(400)  NOT NULL,
    -- Descripción en minúsculas y sin tildes, para buscar por palabras.
    Descripcion_Normalizada  VARCHAR(400)  NOT NULL,
    PRIMARY KEY (Codigo),
    FULLTEXT KEY ft_cie10_descripcion (Descripcion_Normalizada)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `Diagnóstico` (
    `ID_Diagnóstico`  INT            NOT NULL AUTO_INCREMENT,
    `Descripción`     VARCHAR(2000)  NOT NULL,
    Codigo_CIE10      VARCHAR(10)    NULL,
    Fecha             DATE           NOT NULL,
    Estado            ENUM('activo', 'resuelto', 'anulado') NOT NULL DEFAULT 'activo',
    ID_Historial      INT            NOT NULL,
    ID_Cita           INT            NOT NULL,
    -- Copiados de la cita para filtrar sin JOIN; nunca se toman del cuerpo de la petición.
    ID_Paciente       INT            NOT NULL,
    `ID_Médico`       INT            NOT NULL,
    Version           INT            NOT NULL DEFAULT 1,
    Creado_En         DATETIME(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    Actualizado_En    DATETIME(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (`ID_Diagnóstico`),
    KEY ix_diagnostico_historial (ID_Historial, Fecha, `ID_Diagnóstico`),
    KEY ix_diagnostico_paciente (ID_Paciente, Fecha, `ID_Diagnóstico`),
    KEY ix_diagnostico_medico (`ID_Médico`, Fecha, `ID_Diagnóstico`),
    KEY ix_diagnostico_cie10 (Codigo_CIE10, Fecha, `ID_Diagnóstico`),
    KEY ix_diagnostico_estado (Estado, Fecha, `ID_Diagnóstico`),
    KEY ix_diagnostico_cita (ID_Cita),
    CONSTRAINT fk_diagnostico_historial FOREIGN KEY (ID_Historial) REFERENCES `Historial_Médico` (ID_Historial),
    CONSTRAINT fk_diagnostico_cita FOREIGN KEY (ID_Cita) REFERENCES Cita (ID_Cita),
    CONSTRAINT fk_diagnostico_paciente FOREIGN KEY (ID_Paciente) REFERENCES Paciente (ID_Paciente),
    CONSTRAINT fk_diagnostico_medico FOREIGN KEY (`ID_Médico`) REFERENCES `Médico` (`ID_Médico`),
    CONSTRAINT fk_diagnostico_cie10 FOREIGN KEY (Codigo_CIE10) REFERENCES CIE10 (Codigo)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS Tratamiento (
    ID_Tratamiento    INT            NOT NULL AUTO_INCREMENT,
    `Descripción`     VARCHAR(2000)  NOT NULL,
    Fecha_Inicio      DATE           NOT NULL,
    Fecha_Fin         DATE           NULL,
    Estado            ENUM('activo', 'finalizado', 'suspendido', 'anulado') NOT NULL DEFAULT 'activo',
    `ID_Diagnóstico`  INT            NOT NULL,
    ID_Paciente       INT            NOT NULL,
    `ID_Médico`       INT            NOT NULL,
    Version           INT            NOT NULL DEFAULT 1,
    Creado_En         DATETIME(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    Actualizado_En    DATETIME(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (ID_Tratamiento),
    KEY ix_tratamiento_diagnostico (`ID_Diagnóstico`, ID_Tratamiento),
    KEY ix_tratamiento_paciente (ID_Paciente, ID_Tratamiento),
    -- El orden del historial (más reciente primero) sin ordenar las filas aparte.
    KEY ix_tratamiento_paciente_fecha (ID_Paciente, Fecha_Inicio, ID_Tratamiento),
    KEY ix_tratamiento_estado (Estado, ID_Tratamiento),
    CONSTRAINT fk_tratamiento_diagnostico FOREIGN KEY (`ID_Diagnóstico`) REFERENCES `Diagnóstico` (`ID_Diagnóstico`),
    CONSTRAINT fk_tratamiento_paciente FOREIGN KEY (ID_Paciente) REFERENCES Paciente (ID_Paciente),
    CONSTRAINT fk_tratamiento_medico FOREIGN KEY (`ID_Médico`) REFERENCES `Médico` (`ID_Médico`),
    CONSTRAINT ck_tratamiento_fechas CHECK (Fecha_Fin IS NULL OR Fecha_Fin >= Fecha_Inicio)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS Medicamento (
    ID_Medicamento  INT            NOT NULL AUTO_INCREMENT,
    Nombre          VARCHAR(200)   NOT NULL,
    Dosis           VARCHAR(100)   NOT NULL,
    Frecuencia      VARCHAR(100)   NOT NULL,
    Via             ENUM('oral', 'intravenosa', 'intramuscular', 'subcutanea', 'topica', 'inhalada', 'otra') NOT NULL DEFAULT 'oral',
    Duracion_Dias   SMALLINT       NULL,
    Indicaciones    VARCHAR(2000)  NULL,
    Estado          ENUM('activo', 'suspendido', 'anulado') NOT NULL DEFAULT 'activo',
    ID_Tratamiento  INT            NOT NULL,
    ID_Paciente     INT            NOT NULL,
    `ID_Médico`     INT            NOT NULL,
    Version         INT            NOT NULL DEFAULT 1,
    Creado_En       DATETIME(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    Actualizado_En  DATETIME(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (ID_Medicamento),
    KEY ix_medicamento_tratamiento (ID_Tratamiento, ID_Medicamento),
    KEY ix_medicamento_paciente (ID_Paciente, ID_Medicamento),
    KEY ix_medicamento_estado (Estado, ID_Medicamento),
    CONSTRAINT fk_medicamento_tratamiento FOREIGN KEY (ID_Tratamiento) REFERENCES Tratamiento (ID_Tratamiento),
    CONSTRAINT fk_medicamento_paciente FOREIGN KEY (ID_Paciente) REFERENCES Paciente (ID_Paciente),
    CONSTRAINT fk_medicamento_medico FOREIGN KEY (`ID_Médico`) REFERENCES `Médico` (`ID_Médico`),
    CONSTRAINT ck_medicamento_duracion CHECK (Duracion_Dias IS NULL OR Duracion_Dias BETWEEN 1 AND 3650)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- ---------------------------------------------------------------------------
-- Auditoría: sólo INSERT y SELECT; ningún endpoint modifica ni borra filas.
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS Auditoria (
    ID_Auditoria  BIGINT        NOT NULL AUTO_INCREMENT,
    Fecha         DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    ID_Usuario    INT           NULL,
    -- El nombre y el rol del usuario tal como eran en ese momento.
    Nombre_Usuario VARCHAR(100) NULL,
    Rol           VARCHAR(50)   NULL,
    Accion        ENUM('leer', 'crear', 'actualizar', 'anular', 'login_ok', 'login_fallido',
                       'logout', 'denegado', 'acceso_emergencia') NOT NULL,
    Recurso       VARCHAR(40)   NOT NULL,
    ID_Recurso    VARCHAR(64)   NULL,
    ID_Paciente   INT           NULL,
    IP            VARCHAR(45)   NULL,
    ID_Solicitud  VARCHAR(64)   NULL,
    Motivo        VARCHAR(500)  NULL,
    PRIMARY KEY (ID_Auditoria),
    KEY ix_auditoria_paciente (ID_Paciente, ID_Auditoria),
    KEY ix_auditoria_usuario (ID_Usuario, ID_Auditoria),
    KEY ix_auditoria_accion (Accion, ID_Auditoria),
    KEY ix_auditoria_fecha (Fecha)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- ---------------------------------------------------------------------------
-- Operación
-- ---------------------------------------------------------------------------

-- Generación de las cachés de los procesos de la API. `flask --app app restaurar` borra la
-- fila mientras restaura (ningún proceso usa su caché) y la vuelve a escribir con un número
-- nuevo al terminar: cada proceso que ve el cambio descarta todo lo que tenía en caché.
CREATE TABLE IF NOT EXISTS Generacion_Cache (
    ID          TINYINT  NOT NULL,
    Generacion  BIGINT   NOT NULL,
    PRIMARY KEY (ID),
    CONSTRAINT ck_generacion_cache_una CHECK (ID = 1)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;

INSERT IGNORE INTO Generacion_Cache (ID, Generacion) VALUES (1, 1);

-- Versión de la historia de cada paciente (la clave de la caché del historial anidado):
-- la suben los disparadores de Cita, Diagnóstico, Tratamiento y Medicamento, y los de
-- Paciente y Médico cuando cambia un nombre que muestran las citas.
CREATE TABLE IF NOT EXISTS Version_Historia (
    ID_Paciente  INT              NOT NULL,
    Version      BIGINT UNSIGNED  NOT NULL,
    PRIMARY KEY (ID_Paciente)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;

DROP TRIGGER IF EXISTS tr_cita_ai_version;
CREATE TRIGGER tr_cita_ai_version AFTER INSERT ON Cita FOR EACH ROW
    INSERT INTO Version_Historia (ID_Paciente, Version) VALUES (NEW.ID_Paciente, 1)
    ON DUPLICATE KEY UPDATE Version = Version + 1;

DROP TRIGGER IF EXISTS tr_cita_au_version;
CREATE TRIGGER tr_cita_au_version AFTER UPDATE ON Cita FOR EACH ROW
    INSERT INTO Version_Historia (ID_Paciente, Version)
    VALUES (NEW.ID_Paciente, 1), (OLD.ID_Paciente, 1)
    ON DUPLICATE KEY UPDATE Version = Version + 1;

DROP TRIGGER IF EXISTS tr_cita_ad_version;
CREATE TRIGGER tr_cita_ad_version AFTER DELETE ON Cita FOR EACH ROW
    INSERT INTO Version_Historia (ID_Paciente, Version) VALUES (OLD.ID_Paciente, 1)
    ON DUPLICATE KEY UPDATE Version = Version + 1;

DROP TRIGGER IF EXISTS tr_diagnostico_ai_version;
CREATE TRIGGER tr_diagnostico_ai_version AFTER INSERT ON `Diagnóstico` FOR EACH ROW
    INSERT INTO Version_Historia (ID_Paciente, Version) VALUES (NEW.ID_Paciente, 1)
    ON DUPLICATE KEY UPDATE Version = Version + 1;

DROP TRIGGER IF EXISTS tr_diagnostico_au_version;
CREATE TRIGGER tr_diagnostico_au_version AFTER UPDATE ON `Diagnóstico` FOR EACH ROW
    INSERT INTO Version_Historia (ID_Paciente, Version)
    VALUES (NEW.ID_Paciente, 1), (OLD.ID_Paciente, 1)
    ON DUPLICATE KEY UPDATE Version = Version + 1;

DROP TRIGGER IF EXISTS tr_diagnostico_ad_version;
CREATE TRIGGER tr_diagnostico_ad_version AFTER DELETE ON `Diagnóstico` FOR EACH ROW
    INSERT INTO Version_Historia (ID_Paciente, Version) VALUES (OLD.ID_Paciente, 1)
    ON DUPLICATE KEY UPDATE Version = Version + 1;

DROP TRIGGER IF EXISTS tr_tratamiento_ai_version;
CREATE TRIGGER tr_tratamiento_ai_version AFTER INSERT ON Tratamiento FOR EACH ROW
    INSERT INTO Version_Historia (ID_Paciente, Version) VALUES (NEW.ID_Paciente, 1)
    ON DUPLICATE KEY UPDATE Version = Version + 1;

DROP TRIGGER IF EXISTS tr_tratamiento_au_version;
CREATE TRIGGER tr_tratamiento_au_version AFTER UPDATE ON Tratamiento FOR EACH ROW
    INSERT INTO Version_Historia (ID_Paciente, Version)
    VALUES (NEW.ID_Paciente, 1), (OLD.ID_Paciente, 1)
    ON DUPLICATE KEY UPDATE Version = Version + 1;

DROP TRIGGER IF EXISTS tr_tratamiento_ad_version;
CREATE TRIGGER tr_tratamiento_ad_version AFTER DELETE ON Tratamiento FOR EACH ROW
    INSERT INTO Version_Historia (ID_Paciente, Version) VALUES (OLD.ID_Paciente, 1)
    ON DUPLICATE KEY UPDATE Version = Version + 1;

DROP TRIGGER IF EXISTS tr_medicamento_ai_version;
CREATE TRIGGER tr_medicamento_ai_version AFTER INSERT ON Medicamento FOR EACH ROW
    INSERT INTO Version_Historia (ID_Paciente, Version) VALUES (NEW.ID_Paciente, 1)
    ON DUPLICATE KEY UPDATE Version = Version + 1;

DROP TRIGGER IF EXISTS tr_medicamento_au_version;
CREATE TRIGGER tr_medicamento_au_version AFTER UPDATE ON Medicamento FOR EACH ROW
    INSERT INTO Version_Historia (ID_Paciente, Version)
    VALUES (NEW.ID_Paciente, 1), (OLD.ID_Paciente, 1)
    ON DUPLICATE KEY UPDATE Version = Version + 1;

DROP TRIGGER IF EXISTS tr_medicamento_ad_version;
CREATE TRIGGER tr_medicamento_ad_version AFTER DELETE ON Medicamento FOR EACH ROW
    INSERT INTO Version_Historia (ID_Paciente, Version) VALUES (OLD.ID_Paciente, 1)
    ON DUPLICATE KEY UPDATE Version = Version + 1;

DROP TRIGGER IF EXISTS tr_paciente_au_version;
CREATE TRIGGER tr_paciente_au_version AFTER UPDATE ON Paciente FOR EACH ROW
    INSERT INTO Version_Historia (ID_Paciente, Version)
    SELECT NEW.ID_Paciente, 1 FROM DUAL WHERE NOT (OLD.Nombre <=> NEW.Nombre)
    ON DUPLICATE KEY UPDATE Version = Version + 1;

DROP TRIGGER IF EXISTS tr_medico_au_version;
CREATE TRIGGER tr_medico_au_version AFTER UPDATE ON `Médico` FOR EACH ROW
    INSERT INTO Version_Historia (ID_Paciente, Version)
    SELECT DISTINCT c.ID_Paciente, 1 FROM Cita c
     WHERE c.`ID_Médico` = NEW.`ID_Médico`
       AND NOT (OLD.Nombre <=> NEW.Nombre AND OLD.Especialidad <=> NEW.Especialidad)
    ON DUPLICATE KEY UPDATE Version_Historia.Version = Version_Historia.Version + 1;

-- Generación de las sesiones: cada proceso de la API recuerda las sesiones que leyó con la
-- generación de entonces y comprueba en cada petición, en la misma ida y vuelta que su primera
-- consulta, que no ha cambiado. La suben, en la misma transacción que el cambio, los
-- disparadores de las tablas de las que se lee una sesión (migración 0005).
CREATE TABLE IF NOT EXISTS Generacion_Sesion (
    ID          TINYINT  NOT NULL,
    Generacion  BIGINT   NOT NULL,
    PRIMARY KEY (ID),
    CONSTRAINT ck_generacion_sesion_una CHECK (ID = 1)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;

INSERT IGNORE INTO Generacion_Sesion (ID, Generacion) VALUES (1, 1);

DROP TRIGGER IF EXISTS tr_sesion_au_generacion;
CREATE TRIGGER tr_sesion_au_generacion AFTER UPDATE ON Sesion FOR EACH ROW
    UPDATE Generacion_Sesion SET Generacion = Generacion + 1
     WHERE ID = IF(OLD.Revocada <=> NEW.Revocada AND OLD.ID_Usuario <=> NEW.ID_Usuario
                   AND OLD.ID_Sesion <=> NEW.ID_Sesion AND NEW.Expira_En >= OLD.Expira_En,
                   NULL, 1);

DROP TRIGGER IF EXISTS tr_sesion_ad_generacion;
CREATE TRIGGER tr_sesion_ad_generacion AFTER DELETE ON Sesion FOR EACH ROW
    UPDATE Generacion_Sesion SET Generacion = Generacion + 1 WHERE ID = 1;

DROP TRIGGER IF EXISTS tr_usuario_au_generacion;
CREATE TRIGGER tr_usuario_au_generacion AFTER UPDATE ON Usuario FOR EACH ROW
    UPDATE Generacion_Sesion SET Generacion = Generacion + 1 WHERE ID = 1;

DROP TRIGGER IF EXISTS tr_usuario_ad_generacion;
CREATE TRIGGER tr_usuario_ad_generacion AFTER DELETE ON Usuario FOR EACH ROW
    UPDATE Generacion_Sesion SET Generacion = Generacion + 1 WHERE ID = 1;

DROP TRIGGER IF EXISTS tr_rol_au_generacion;
CREATE TRIGGER tr_rol_au_generacion AFTER UPDATE ON Rol FOR EACH ROW
    UPDATE Generacion_Sesion SET Generacion = Generacion + 1 WHERE ID = 1;

DROP TRIGGER IF EXISTS tr_rol_ad_generacion;
CREATE TRIGGER tr_rol_ad_generacion AFTER DELETE ON Rol FOR EACH ROW
    UPDATE Generacion_Sesion SET Generacion = Generacion + 1 WHERE ID = 1;

DROP TRIGGER IF EXISTS tr_rolpermiso_ai_generacion;
CREATE TRIGGER tr_rolpermiso_ai_generacion AFTER INSERT ON Rol_Permiso FOR EACH ROW
    UPDATE Generacion_Sesion SET Generacion = Generacion + 1 WHERE ID = 1;

DROP TRIGGER IF EXISTS tr_rolpermiso_au_generacion;
CREATE TRIGGER tr_rolpermiso_au_generacion AFTER UPDATE ON Rol_Permiso FOR EACH ROW
    UPDATE Generacion_Sesion SET Generacion = Generacion + 1 WHERE ID = 1;

DROP TRIGGER IF EXISTS tr_rolpermiso_ad_generacion;
CREATE TRIGGER tr_rolpermiso_ad_generacion AFTER DELETE ON Rol_Permiso FOR EACH ROW
    UPDATE Generacion_Sesion SET Generacion = Generacion + 1 WHERE ID = 1;

-- ---------------------------------------------------------------------------
-- Roles del sistema (no se pueden renombrar, cambiar ni borrar)
-- ---------------------------------------------------------------------------

-- Nombre_Canonico es roles.nombre_canonico(Nombre): para estos nombres, el mismo texto.
INSERT IGNORE INTO Rol (ID_Rol, Nombre, Descripcion, Sistema, Nombre_Canonico) VALUES
    (1, 'admin',         'Administrador del sistema', TRUE, 'admin'),
    (2, 'medico',        'Médico de la clínica', TRUE, 'medico'),
    (3, 'recepcionista', 'Recepción y agenda', TRUE, 'recepcionista'),
    (4, 'paciente',      'Paciente con acceso a sus propios datos', TRUE, 'paciente');

INSERT IGNORE INTO Rol_Permiso (ID_Rol, Permiso) VALUES
    (1, 'pacientes:leer'), (1, 'pacientes:escribir'), (1, 'medicos:escribir'),
    (1, 'citas:gestionar'), (1, 'clinico:leer'), (1, 'usuarios:gestionar'),
    (1, 'roles:gestionar'), (1, 'auditoria:leer'),
    (2, 'pacientes:leer'), (2, 'clinico:leer'), (2, 'clinico:escribir'),
    (3, 'pacientes:leer'), (3, 'pacientes:escribir'), (3, 'citas:gestionar');
