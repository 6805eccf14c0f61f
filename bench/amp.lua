-- The AMP query: intercommunality by SIREN -> 92 communes with population and mayor.
dofile("bench/common.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = [[{"query":"{intercommunality(siren:\"200054807\"){name communes(first:100){totalCount edges{node{inseeCode name population{value} currentMayor{person{fullName}}}}}}}"}]]
checked_by("Marseille")
