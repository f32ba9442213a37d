-- Migración 0005: la generación de las sesiones, para que cada proceso de la API recuerde
-- las sesiones que ya leyó y confirme que siguen igual sin volver a consultarlas
-- (sesiones.py).
--
-- Cada proceso guarda la fila de una sesión (usuario, rol, permisos, vínculos) junto con la
-- generación que había al leerla, y en cada petición comprueba en la misma ida y vuelta que
-- su primera consulta que la generación no ha cambiado. Un disparador de cada tabla de las
-- que se lee esa fila sube la generación en la misma transacción que el cambio, escriba
-- quien escriba (la API, un comando, un script o una consola): cerrar o revocar una sesión,
-- cambiar o borrar un usuario, un rol o sus permisos. Abrir una sesión (INSERT) o renovar
-- su refresh token (sólo cambian Refresh_JTI y una Expira_En más tardía) no la suben, ni
-- bloquean su fila (ID = NULL no encuentra ninguna). TRUNCATE no dispara disparadores: para
-- cerrar sesiones a mano, UPDATE Sesion SET Revocada = TRUE.
-- Disparadores de una sola sentencia, como los de 0004.

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
