"""Speech2GestureModel: Speech2Gesture (Ginosar et al. 2019), the baseline of the gesture-GAN family.

Generator (specs/gesture-systems.md §1): the audio window as a 2-D "image" through ``AudioEncoder2D``
(per-frame features at the motion rate, whatever the audio's frame rate), a ``UNet1D`` over time and
a ``PoseDecoder`` (4 conv blocks + 1x1 conv) -> one motion window. Discriminator: patch scores of
the velocities (``--disc_input``). Loss: L1 to the ground truth + λ_gan · adversarial term, trained
by :class:`~motionlab.models.modules.adversarial.AdversarialModel` (D/G steps, λ ramps, clipping).
It has no style input: generation ignores ``speaker``.

Windows: every input modality is audio-like and given (the inputs are concatenated along features,
so they need one length); one output modality, predicted whole: ``--output_lengths 64`` with the
audio over the same frames (the paper: 64 frames at 15 fps).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from motionlab.models.modules.adversarial import AdversarialModel
from motionlab.models.modules.conv import NORMS
from motionlab.models.modules.gesture import AudioEncoder2D, PoseDecoder, UNet1D, audio_time_halvings
from motionlab.options import bounded
from motionlab.utils.errors import MotionlabError


class Speech2GestureModel(AdversarialModel):
    """Speech2Gesture: 2-D conv audio encoder, 1-D U-Net and pose decoder, with a velocity discriminator (no style input)."""

    selection_term = "l1"

    @staticmethod
    def modify_commandline_options(parser, known):
        AdversarialModel.modify_commandline_options(parser, known)
        pos = bounded(int, 1, what="an integer")
        parser.add_argument("--hidden_channels", type=pos, default=256, help="channels of the audio features and the U-Net (the paper: 256)")
        parser.add_argument("--audio_channels", type=pos, default=64, help="width w of the 2-D audio encoder (blocks w, w, 2w, 2w, 4w, 4w, 4w; the paper: 64)")
        parser.add_argument("--audio_time_halvings", type=bounded(int, -1, 3, what="an integer"), default=-1, help="time halvings in the 2-D audio encoder (the paper: 3, then resampled to the motion length; -1: as many as keep a frame per motion frame, which keeps a beat's phase and costs ~3x at paper size)")
        parser.add_argument("--unet_depth", type=bounded(int, 0, what="an integer"), default=5, help="halvings in the U-Net (the paper: 5, 64 -> 2 frames)")
        parser.add_argument("--decoder_channels", type=pos, default=256, help="channels of each pose decoder (generator)")
        parser.add_argument("--decoder_layers", type=pos, default=4, help="conv blocks of each pose decoder before its 1x1 output conv")
        parser.add_argument("--conv_norm", default="batch", choices=list(NORMS), help="normalisation in the conv blocks (generator and discriminator)")
        parser.add_argument("--lambda_l1", type=bounded(float, 0.0, what="a number"), default=1.0, help="weight of the L1 reconstruction term")
        return parser

    def __init__(self, opt, spec):
        super().__init__(opt, spec)
        o = self.opt
        self.out_length, self.out_dim = self._check_windows()
        halvings = o.audio_time_halvings if getattr(o, "audio_time_halvings", -1) >= 0 else audio_time_halvings(int(self.spec.input_lengths[0]), self.out_length)
        self.audio_encoder = AudioEncoder2D(sum(self.input_dims[i] for i in self.audio_inputs()), o.audio_channels, o.hidden_channels, time_halvings=halvings, norm=o.conv_norm)
        self.unet = UNet1D(o.hidden_channels, o.unet_depth, norm=o.conv_norm)
        self.build_decoder()
        self.discriminator = self.build_discriminator(self.out_dim, self.out_length)

    def audio_inputs(self) -> list[int]:
        """Indices of the input modalities the 2-D audio encoder reads (all of them here; CC-NCE keeps its text apart)."""
        return list(range(len(self.input_dims)))

    def _check_windows(self) -> tuple[int, int]:
        s, name = self.spec, self.opt.model
        if len(s.output_modalities) != 1:
            raise MotionlabError(f"model '{name}' predicts one motion feature, got --output_modalities {list(s.output_modalities)}")
        fed = [m for m in s.input_modalities if m in s.output_modalities]
        if fed:
            raise MotionlabError(f"model '{name}' maps audio to a whole motion window; '{fed[0]}' cannot be both input and output (drop it from --input_modalities)")
        lengths = [s.input_lengths[i] for i in self.audio_inputs()]
        if len(set(lengths)) != 1:
            raise MotionlabError(f"model '{name}' concatenates its audio inputs along features, so they need one window length; got --input_lengths {lengths}")
        return int(s.output_lengths[0]), int(self.output_dims[0])

    def build_decoder(self) -> None:
        o = self.opt
        self.decoder = PoseDecoder(o.hidden_channels, self.out_dim, hidden=o.decoder_channels, layers=o.decoder_layers, norm=o.conv_norm)

    def audio_features(self, window_inputs) -> torch.Tensor:
        """Input windows (B, L_a, F_i) -> U-Net input (B, hidden, L_out)."""
        return self.audio_encoder(torch.cat([window_inputs[i] for i in self.audio_inputs()], dim=2), self.out_length)

    def generate_window(self, window_inputs, speaker=None, **cond):
        """Audio windows -> [(B, L_out, D)]; ``speaker`` is accepted and ignored (no style input)."""
        return [self.decoder(self.unet(self.audio_features(window_inputs))).transpose(1, 2)]

    def generate_fake(self, batch):
        return self.generate_window(batch["inputs"])[0]

    def generator_loss(self, batch):
        y = self.real_motion(batch)
        fake = self.generate_fake(batch)
        l1 = F.l1_loss(fake, y)
        adv_w, adv = self.adversarial_term(fake)
        loss = self.opt.lambda_l1 * l1 + adv_w
        return loss, {"l1": l1.detach(), "adv": adv.detach()}
