import pytest
import torch

from core.models import CCVAE, Encoding, ModelConfig, build_model
from core.models.nets import ARCHITECTURES, build_nets


@pytest.mark.parametrize("shape", sorted(ARCHITECTURES))
@pytest.mark.parametrize("dims", [(16, 16), (8, 32)])
def test_shapes_for_each_architecture(shape, dims):
    model = CCVAE(ModelConfig(image_shape=shape, z_dim=dims[0], s_dim=dims[1]))
    x = torch.rand(3, *shape)
    enc = model.encode(x)
    assert isinstance(enc, Encoding)
    assert enc.z_mu.shape == enc.z_logvar.shape == (3, dims[0])
    assert enc.s.shape == (3, dims[1])
    y = model.decode(enc.z_mu, enc.s)
    assert y.shape == x.shape
    assert y.min() >= 0 and y.max() <= 1


def test_unknown_shape_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"supported .*\(1, 28, 28\)"):
        build_nets((3, 32, 32), z_dim=4, s_dim=4)


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid: ccvae"):
        build_model(ModelConfig(method="nope"))


def test_encode_rejects_wrong_image_shape(tiny_model):
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, 28, 28\)"):
        tiny_model.encode(torch.rand(2, 3, 28, 28))


def test_inference_is_deterministic_and_independent_of_batch(tiny_model):
    x = torch.rand(8, 1, 28, 28)
    tiny_model.eval()
    with torch.no_grad():
        full = tiny_model.encode(x)
        again = tiny_model.encode(x)
        alone = tiny_model.encode(x[3:4])
        other_batch = tiny_model.encode(torch.cat([torch.rand(5, 1, 28, 28), x[3:4]]))
        for a, b in zip(full, again):
            assert torch.equal(a, b)
        for a, b, c in zip(full, alone, other_batch):
            torch.testing.assert_close(a[3:4], b, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(a[3:4], c[-1:], rtol=1e-5, atol=1e-6)
        dec_full = tiny_model.decode(full.z_mu, full.s)
        dec_alone = tiny_model.decode(full.z_mu[3:4], full.s[3:4])
        torch.testing.assert_close(dec_full[3:4], dec_alone, rtol=1e-5, atol=1e-6)


def test_train_and_eval_mode_compute_the_same_function(tiny_model):
    """No running statistics: .eval() must not change what the network computes."""
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        tiny_model.train()
        for _ in range(3):  # would update running stats if any existed
            tiny_model.encode(torch.rand(16, 1, 28, 28) * 3)
        a = tiny_model.encode(x)
        tiny_model.eval()
        b = tiny_model.encode(x)
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v)
    assert not any("running" in name for name in tiny_model.state_dict())
