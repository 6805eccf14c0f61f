-- Sign-in in a loop (argon2id at the OWASP minimum for each request).
dofile("bench/common.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{"query":"mutation{login(email:\"maire.aix@demo.entente.fr\",password:\"entente-demo-2026\"){token}}"}]]
checked_by("token")
