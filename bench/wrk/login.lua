-- Sign-in flood: every request is a correct password for the bench user.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":"bench","password":"correct horse battery staple 42"}'
