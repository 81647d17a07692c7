"""The test vectors of protocol.md §9: one key, the plaintexts, and the encrypted bodies."""

from __future__ import annotations

import base64

KEY = bytes(range(32))
V1_PLAIN = (
    b'{"v":"2.0","type":"log","source":"/var/log/app.log","level":7,'
    b'"ts":"2026-11-28T10:00:00.123456Z","message":"GET /health 200 1ms",'
    b'"attributes":{"host":"web-01"}}'
)
V1_BODY = base64.b64decode(
    "WIneG8XlwhuNQrIH/OO7TZNTKBZD1WWmDkoLxjL5VcWnHB+cn2lbsVXTkKVp6pbPWZpmg/aUm5vCue4JyyelPGpj"
    "y481YkAu5zH7kcNdSPnkB+7H27IluuWUcU85d/RHEwu8PJn49Em3YlT9xwsxRSroV6No7enGdQjiK3VeOOwQT0Ls"
    "IXzUSS37cC8i6qdnfVTjNTUG3iWeJ0zQWhhzUvG8RBuR"
)
V1_GZIP = base64.b64decode(
    "H4sIAAAAAAAAAyWMTQrDIBCFryKzrjraNi3uQy+QVXemDLFgMKhJKSF370jhbb73t8MGDqxCOEH9LsQQ08RQ0ppfDf"
    "Xms2ZP+2VR/yzSRhHcjSelrdF20hhp74NBh03K2PPl2j25PFMpfmpPj34QOpCPNQiLKMxcOPe15ve4VuKrHUIqlasf"
    "GiUaOI4fMOulS6AAAAA="
)
V1_NONCE_B64 = "AAECAwQFBgcICQoL"
V2_PLAIN_SHA = "b4d66ce04b1ccd013395c52162180fb1ee97a2bfc02f66a7b8bb52de86921ce3"
V2_NONCE_B64 = "Dw4NDAsKCQgHBgUE"
V2A = base64.b64decode(
    "u7u5XFvXr67r3KTUeZAJIXkjsEJ8l6PtXoZ/Va+e+R5hvuoEX749drtCVQIWAD5JuqB3qlGAXS00HHerIDb/bUfX"
    "RHSXURzS2lGa+Xed4hfMhv8OMhXxjwN5X2jv27//Mv/LjGp39k86zjTeyujay2oFJPLBwNqih/sADpHY0QIPBA=="
)
V2B = base64.b64decode(
    "u7u5XFvXr67v3KTUeZAJIXkjsEJ8l6PtXoZ/Va+e+R5hvuoEX749drtCVQIWAD5JuqB3qlGAXS00HHerIDb/bUfX"
    "RHSXURzS2lGa+Xed4hfMhv8OMhXxjwN5X2jv27//Mv/LjGp39k86zjTeyujay2oFHKgfdw7zqvi5IeDbleOJ1A=="
)
V3_NONCE_B64 = "paWlpaWlpaWlpaWl"
V3 = base64.b64decode(
    "WmXqggi+GqcYjo/A3FoHQK8glTuMNmNtZCToDFYklrnMnSfNrm/GqvrtVztaJlZFn2ZFRak+DVqz4HvOzpaJFINs"
    "A6jElGfQ/2t8Nn+kpMSSj1Sa12kq03d+aTStAv8roHgxJ4geUzYIRUTXXHDQj+SUgL/n7UBj/k47OY4="
)
