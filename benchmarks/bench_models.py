import sys, time, dataclasses, torch, torch.nn.functional as F
from mcdlib.config import get_preset
from mcdlib.data.spec import DataSpec, random_batch
from mcdlib.models import build_model, count_parameters
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
spec = DataSpec(audio_dim=128, visual_dim=1280, text_dim=384, segments=10, visual_grid=(49, 1280), text_len=24,
                type_object_features=torch.randn(9, 2, 384))
for preset in ("classroom", "full"):
    for name in ("mcd", "qonly", "late", "avst"):
        cfg = dataclasses.replace(get_preset(preset).model, name=name)
        torch.manual_seed(0)
        model = build_model(cfg, spec)
        opt = torch.optim.Adam(model.parameters(), 1e-4)
        batch = random_batch(spec, 64, videos_per_batch=16)
        def step():
            out = model(batch)
            loss = F.cross_entropy(out["logits"], batch["answer"]) + sum(out["losses"].values())
            opt.zero_grad(); loss.backward(); opt.step()
        step()
        n = 5
        t = time.perf_counter()
        for _ in range(n): step()
        dt = (time.perf_counter() - t) / n
        print(f"{preset:9s} {name:5s} params={count_parameters(model):>10,}  train step B=64: {dt*1000:7.1f} ms  ({64/dt:7.0f} q/s)")
