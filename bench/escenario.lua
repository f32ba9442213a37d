-- wrk script of every benchmark scenario: adds the bearer token, varies ids, counts non-2xx.
-- Usage: wrk -s bench/escenario.lua URL -- <escenario> <token> <pacientes> <medicos>
--            <inicio_rejilla_epoch> <dias_rejilla> <id_paciente> <nuevas_desde_epoch>
--            <hilos> <correo> <password> [<parte> <partes>]
-- Prints one JSON line at the end (requests, rps, p50/p99 in ms, non-2xx, socket errors).

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local PREFIJOS = {"gar", "mar", "jos", "lop", "fern", "san", "rod", "mor", "gom", "alv",
                  "luc", "ang", "per", "mart", "jim", "diaz", "ruiz", "nav", "tor", "cas"}
local DIA = 86400

function init(args)
  escenario = args[1]
  token = args[2]
  pacientes = tonumber(args[3])
  medicos = tonumber(args[4])
  inicio_rejilla = tonumber(args[5])
  dias_rejilla = tonumber(args[6])
  id_paciente = tonumber(args[7])
  nuevas_desde = tonumber(args[8])
  hilos = tonumber(args[9])
  correo = args[10]
  password = args[11]
  parte = tonumber(args[12] or "0")
  partes = tonumber(args[13] or "1")
  non2xx = 0
  statuses = ""
  k = 0
  math.randomseed(os.time() + tid * 7919)
  headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
end

local function fecha(epoch)
  return os.date("!%Y-%m-%d", epoch)
end

-- The i-th free slot after `nuevas_desde` (a Monday): weekdays, 08:00-17:30, patients all
-- different within one slot, so no two bookings of the run clash. wrk processes that run at
-- the same time (bench/run.py wrk_many) each book their own `parte` of the doctors and of the
-- patients: a booking writes the doctor's and the patient's agenda rows, and on a cluster two
-- nodes writing one row at once is a certification conflict, whatever the slot.
local function hueco(i)
  local por_medico = math.max(1, math.floor(medicos / partes))
  local por_paciente = math.max(1, math.floor(pacientes / partes))
  local id_medico = (i % por_medico) * partes + parte + 1
  local t = math.floor(i / por_medico)
  local slot = t % 20
  local dia = math.floor(t / 20)
  local dias = math.floor(dia / 5) * 7 + dia % 5
  local minutos = 8 * 60 + slot * 30
  local id_paciente = ((i + math.floor(nuevas_desde / DIA) * 37) % por_paciente) * partes
                      + parte + 1
  return fecha(nuevas_desde + dias * DIA), string.format("%02d:%02d", math.floor(minutos / 60),
         minutos % 60), id_paciente, id_medico
end

function request()
  k = k + 1
  if escenario == "paciente" then
    return wrk.format("GET", "/pacientes/" .. math.random(1, pacientes), headers)
  elseif escenario == "buscar" then
    return wrk.format("GET", "/pacientes?q=" .. PREFIJOS[math.random(1, #PREFIJOS)], headers)
  elseif escenario == "listar" then
    return wrk.format("GET", "/pacientes?orden=nombre", headers)
  elseif escenario == "citas" then
    local d = inicio_rejilla + math.random(0, math.max(dias_rejilla - 7, 0)) * DIA
    return wrk.format("GET", "/citas?id_medico=" .. math.random(1, medicos) .. "&desde="
                      .. fecha(d) .. "&hasta=" .. fecha(d + 6 * DIA), headers)
  elseif escenario == "historial" then
    return wrk.format("GET", "/historial/paciente/" .. id_paciente, headers)
  elseif escenario == "crear_cita" then
    local f, h, p, m = hueco((k - 1) * hilos + tid)
    local body = string.format('{"fecha": "%s", "hora": "%s", "id_paciente": %d, '
                               .. '"id_medico": %d, "motivo": "Benchmark"}', f, h, p, m)
    return wrk.format("POST", "/citas", headers, body)
  elseif escenario == "login" then
    local body = string.format('{"correo": "%s", "password": "%s"}', correo, password)
    return wrk.format("POST", "/auth/login", {["Content-Type"] = "application/json"}, body)
  end
  error("escenario desconocido: " .. tostring(escenario))
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if #statuses < 200 then
      statuses = statuses .. status .. " "
    end
  end
end

function done(summary, latency, requests)
  local bad, seen = 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    seen = seen .. thread:get("statuses")
  end
  local e = summary.errors
  io.write(string.format('{"requests": %d, "duration_s": %.3f, "rps": %.1f, "p50_ms": %.2f, '
    .. '"p99_ms": %.2f, "non2xx": %d, "non2xx_statuses": "%s", "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, bad, seen,
    e.connect + e.read + e.write + e.timeout))
end
