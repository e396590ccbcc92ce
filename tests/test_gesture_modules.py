"""The gesture-GAN building blocks: shapes at the paper's sizes and at odd ones, and the invariants they promise."""

import pytest
import torch

from motionlab.models.modules.conv import ConvNormReLU
from motionlab.models.modules.gesture import (
    AudioEncoder2D,
    ClusterClassifier,
    MixtureOfGenerators,
    PoseDecoder,
    PoseEncoder,
    PoseStyleEncoder,
    UNet1D,
    VelocityDiscriminator,
    audio_time_halvings,
    frozen_batch_stats,
    velocity,
)
from motionlab.utils.errors import MotionlabError


@pytest.mark.parametrize("L_audio, n_mels, L_motion", [(64, 64, 64), (128, 64, 64), (30, 16, 37), (3, 2, 5)])
def test_audio_encoder_gives_motion_rate_features_for_any_audio_window(L_audio, n_mels, L_motion):
    enc = AudioEncoder2D(n_mels, width=4, out_channels=24)
    assert enc(torch.randn(2, L_audio, n_mels), L_motion).shape == (2, 24, L_motion)


def test_audio_encoder_at_paper_size_and_bad_rank():
    enc = AudioEncoder2D(64)  # 1 -> 64 -> 64↓ -> 128 -> 128↓ -> 256 -> 256↓ -> 256 -> 256
    convs = [m for m in enc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 256, 256]
    assert [c.stride for c in convs].count((2, 2)) == 3
    assert convs[-1].kernel_size == (3, 8)  # spans the 8 bins left of 64 mels
    with pytest.raises(MotionlabError, match=r"expected windows \(B, L_audio, 64\) \(features as in training\), got shape \(64, 64\)"):
        enc(torch.randn(64, 64), 64)
    with pytest.raises(MotionlabError, match=r"got shape \(2, 64, 80\)"):
        enc(torch.randn(2, 64, 80), 64)


def test_audio_time_halvings_keep_a_frame_per_motion_frame():
    assert audio_time_halvings(32, 32) == 0  # the demo: audio at the motion rate
    assert audio_time_halvings(64, 32) == 1 and audio_time_halvings(127, 32) == 1 and audio_time_halvings(128, 32) == 2
    assert audio_time_halvings(1000, 32) == 3  # never more than the encoder's three
    assert audio_time_halvings(20, 32) == 0


def test_audio_encoder_without_time_halvings_keeps_per_frame_timing():
    """Audio at the motion rate: no halving of time, so a one-frame event moves the features only
    near that frame (the receptive field), and no resampling blurs it."""
    torch.manual_seed(0)
    enc = AudioEncoder2D(16, width=4, out_channels=8, time_halvings=0).eval()
    convs = [m for m in enc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride for c in convs] == [(1, 1), (1, 2), (1, 1), (1, 2), (1, 1), (1, 2), (1, 1), (1, 1)]
    assert convs[-1].kernel_size == (3, 2)  # 16 bins halved three times
    x = torch.randn(1, 32, 16)
    y = x.clone()
    y[0, 20] += 3.0
    with torch.no_grad():
        moved = (enc(y, 32) - enc(x, 32)).abs().amax(1)[0]
    reach = 1 + 3 + 3 + 1  # k3 convs reach 1 frame, k4 halvings of frequency only (k3 in time) 1 each
    assert moved[20] > 0 and torch.all(moved[: 20 - reach] == 0) and torch.all(moved[20 + reach + 1 :] == 0)
    coarse = AudioEncoder2D(16, width=4, out_channels=8).eval()  # the original's three halvings of time
    with torch.no_grad():
        assert (coarse(y, 32) - coarse(x, 32)).abs().amax(1)[0][:4].max() > 0  # one event reaches far through the resampling
    with pytest.raises(MotionlabError, match=r"time_halvings must be in 0..3, got 4"):
        AudioEncoder2D(16, time_halvings=4)


def test_frozen_batch_stats_normalise_with_the_batch_but_keep_the_running_statistics():
    net = torch.nn.Sequential(ConvNormReLU(3, 4), ConvNormReLU(4, 4)).train()
    before = [b.clone() for n, b in net.named_buffers() if "running" in n]
    x = 5 + 3 * torch.randn(8, 3, 10)
    with frozen_batch_stats(net, None):
        inside = net(x)
    assert all(torch.equal(a, b) for a, b in zip(before, [b for n, b in net.named_buffers() if "running" in n]))
    assert [m.momentum for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d)] == [0.1, 0.1]  # restored
    torch.testing.assert_close(inside, net(x))  # the same batch normalisation as outside
    assert not torch.equal(before[0], net[0][1].running_mean)  # outside, the statistics move


@pytest.mark.parametrize("T", [64, 37, 5, 1])
def test_unet_keeps_any_length_and_pads_with_the_last_frame(T):
    torch.manual_seed(0)
    net = UNet1D(8, depth=3).eval()
    x = torch.randn(2, 8, T)
    y = net(x)
    assert y.shape == (2, 8, T)
    padded = torch.cat([x, x[:, :, -1:].expand(-1, -1, -(-T // 8) * 8 - T)], 2)  # what the U-Net pads to internally
    torch.testing.assert_close(y, net(padded)[:, :, :T])


def test_unet_paper_depth_reaches_two_frames():
    net = UNet1D(16, depth=5)
    lengths = []
    for down in net.down:
        down.register_forward_hook(lambda m, i, o: lengths.append(o.shape[2]))
    net(torch.randn(2, 16, 64))
    assert lengths == [32, 16, 8, 4, 2]


def test_velocity_has_zero_first_frame():
    y = torch.arange(12.0).view(1, 4, 3) ** 2
    v = velocity(y)
    assert torch.equal(v[:, 0], torch.zeros(1, 3))
    torch.testing.assert_close(v[:, 1:], y[:, 1:] - y[:, :-1])


def test_discriminator_scores_velocities_or_poses():
    torch.manual_seed(0)
    d = VelocityDiscriminator(96, 64).eval()
    assert d(torch.randn(3, 64, 96)).shape == (3, 12)  # the paper: T = 64 gives 12 scores
    y = torch.randn(2, 32, 12)
    dv, dp = VelocityDiscriminator(12, 32, (8, 8, 8)).eval(), VelocityDiscriminator(12, 32, (8, 8, 8), input_kind="pose").eval()
    torch.testing.assert_close(dv(y), dv(y + 5.0))  # a constant offset has no velocity
    assert not torch.allclose(dp(y), dp(y + 5.0))
    assert VelocityDiscriminator(12, 4, (8, 8, 8))(torch.randn(2, 4, 12)).shape[1] >= 1  # short windows still score
    with pytest.raises(MotionlabError, match="--disc_input: expected one of velocity, pose"):
        VelocityDiscriminator(12, 32, input_kind="speed")


def test_pose_style_encoder_and_cluster_classifier_shapes():
    pse = PoseStyleEncoder(96, 4, 64)
    downs = [m for m in pse.modules() if isinstance(m, torch.nn.Conv1d) and m.stride == (2,)]
    assert len(downs) == 6  # 64, 128, 128, 256, 256, n_styles: each halves the window
    assert pse(torch.randn(2, 64, 96)).shape == (2, 4)
    assert PoseStyleEncoder(12, 3, 5, (8, 8, 8, 8))(torch.randn(2, 5, 12)).shape == (2, 3)  # stops halving at one frame
    assert ClusterClassifier(266, 8, hidden=16, layers=2)(torch.randn(2, 266, 20)).shape == (2, 8, 20)
    assert PoseEncoder(12, 16)(torch.randn(2, 12, 20)).shape == (2, 16, 20)


def test_mixture_weights_sum_to_one_and_a_forced_generator_is_that_generator():
    torch.manual_seed(0)
    mix = MixtureOfGenerators(10, 6, k=4, hidden=8, layers=2).eval()
    x, logits = torch.randn(3, 10, 20), torch.randn(3, 4, 20)
    out, each, w = mix(x, logits)
    assert out.shape == (3, 6, 20) and each.shape == (3, 4, 6, 20) and w.shape == (3, 4, 20)
    torch.testing.assert_close(w.sum(1), torch.ones(3, 20))
    torch.testing.assert_close(out, (each * w[:, :, None]).sum(1))
    for k in range(4):
        forced, _, wk = mix(x, logits, force=k)
        torch.testing.assert_close(forced, each[:, k])
        assert torch.equal(wk[:, k], torch.ones(3, 20))
    with pytest.raises(MotionlabError, match=r"force_generator=4: the model has 4 generator\(s\)"):
        mix(x, logits, force=4)


def test_generators_of_the_grouped_conv_are_independent():
    torch.manual_seed(0)
    mix = MixtureOfGenerators(5, 3, k=3, hidden=4, layers=2).eval()
    x = torch.randn(2, 5, 9)
    before = mix.generators(x)
    with torch.no_grad():  # scramble generator 1's weights only (its group's output channels)
        for m in mix.modules():
            if isinstance(m, torch.nn.Conv1d):
                per = m.out_channels // 3
                m.weight[per : 2 * per] = torch.randn_like(m.weight[per : 2 * per])
    after = mix.generators(x)
    torch.testing.assert_close(after[:, [0, 2]], before[:, [0, 2]])
    assert not torch.allclose(after[:, 1], before[:, 1])


def test_pose_decoder_is_a_mixture_of_one():
    dec = PoseDecoder(16, 12, hidden=8, layers=4)
    assert dec(torch.randn(2, 16, 10)).shape == (2, 12, 10)
    assert sum(isinstance(m, ConvNormReLU) for m in dec.modules()) == 4


def test_conv_norm_relu_groups_default_unchanged():
    assert ConvNormReLU(8, 16)[0].weight.shape == (16, 8, 3)
    grouped = ConvNormReLU(8, 16, groups=2, resample="down")
    assert grouped[0].weight.shape == (16, 4, 4) and grouped(torch.randn(1, 8, 10)).shape == (1, 16, 5)
