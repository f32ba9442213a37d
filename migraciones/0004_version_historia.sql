-- Migración 0004: la versión de la historia de cada paciente, para servir su historial anidado
-- desde una caché (historialMedico.py).
--
-- Todo lo que forma el cuerpo de GET /historial/paciente/<id> fuera de la fila del paciente y
-- de su historial (que se leen siempre) está en Cita, Diagnóstico, Tratamiento y Medicamento,
-- más el nombre del paciente y el nombre y la especialidad del médico de cada cita. Un
-- disparador de cada tabla sube la versión del paciente en la misma transacción que el
-- cambio, escriba quien escriba (la API, un script o una consola): la caché, con la versión
-- en la clave, nunca sirve un cuerpo anterior a lo escrito. Una fila que falta vale 0.
-- Los disparadores son de una sola sentencia (válidos en MySQL 8.0 y MariaDB 10.6) y
-- requieren el privilegio TRIGGER (con binlog en MySQL, también SUPER o
-- log_bin_trust_function_creators).

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
