-- The meeting view: meeting -> agenda -> 93 attendance rows with person and commune -> documents.
dofile("bench/common.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = [[{"query":"query($id:ID!){meeting(id:$id){title status startsAtParis agenda{position kind title note documents{filename}} attendance{status seat arrivalPosition departurePosition person{fullName} commune{name inseeCode}} documents{filename sha256 sizeBytes}}}","variables":{"id":"]] .. os.getenv("MEETING") .. [["}}]]
checked_by("Marseille")
