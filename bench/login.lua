-- Sign-in in a loop (argon2id at the OWASP minimum for each request). Each wrk thread
-- signs in as one of the demo's eight accounts (run with -t8 -c8: eight people); with
-- LOGIN_SAME_ACCOUNT=1 every thread uses one account (one person's eight devices, whose
-- attempts are taken one at a time).
dofile("bench/common.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local accounts = { "admin", "secretariat", "president", "dgs.metropole", "maire.marseille", "maire.aix",
  "maire.cassis", "dgs.marseille" }
local same = os.getenv("LOGIN_SAME_ACCOUNT") == "1"
local started = 0
local collect = setup

function setup(thread)
  collect(thread)
  started = started + 1
  thread:set("account", same and "maire.aix" or accounts[(started - 1) % #accounts + 1])
end

local checks = init
function init(args)
  checks(args)
  wrk.body = '{"query":"mutation{login(email:\\"' .. account ..
    '@demo.entente.fr\\",password:\\"entente-demo-2026\\"){token}}"}'
end
checked_by("token")
