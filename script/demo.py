"""The demo run by script/demo: a broker, an endpoint, a function through them."""
import time
import fx
from fxharness import Federation

def hypotenuse(a, b):
    import math, socket
    return f"{a}-{b}-{math.hypot(a, b):.1f} computed on {socket.gethostname()}"

def square(x):
    return x * x


fed = Federation()
try:
    fed.start_broker()
    print(f"broker:   pid {fed.broker.pid}, clients at {fed.client_addr}, endpoints at {fed.endpoint_addr}")
    creds = fed.add_user("demo")
    print(f"user:     demo, credentials in {creds}")
    ep = fed.start_endpoint(creds, "laptop", managers=2, workers=2)
    print(f"endpoint: {ep.endpoint_id} (2 managers x 2 workers)")
    with fx.Client(credentials=creds) as client:
        fid = client.register_function(hypotenuse)
        print(f"function: hypotenuse registered as {fid}")
        start = time.monotonic()
        with fx.Executor(endpoint_id=ep.endpoint_id, client=client) as ex:
            futures = [ex.submit(hypotenuse, a, a + 1) for a in range(1, 6)]
            for f in futures:
                print(f"result:   {f.result(timeout=60)}")
            squares = list(ex.map(square, range(100)))
        print(f"map:      100 squares, sum {sum(squares)}, "
              f"in {time.monotonic() - start:.2f} s")
        shell = client.register_function(fx.ShellFunction("echo shell says {word}"))
        res = client.get_result(client.run(word="hi there", endpoint_id=ep.endpoint_id, function_id=shell), timeout=60)
        print(f"shell:    returncode {res.returncode}, stdout {res.stdout.strip()!r}")
finally:
    codes = fed.stop()
    print("stopped:  " + ", ".join(f"{k} exit {v}" for k, v in codes.items()))
