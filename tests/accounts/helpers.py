"""What the accounts tests share: a user's current one-time code, an enrolled user."""

from django_otp.oath import totp

from accounts import services


def current_code(device) -> str:
    """The code the user's authenticator app shows now."""
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):0{device.digits}d}"


def enrol(user) -> tuple[object, list[str]]:
    """Given `user`, an authenticator set up (its first code already used) and their recovery codes."""
    device = services.totp_enrol_start(user=user)
    device, codes = services.totp_enrol_confirm(user=user, code=current_code(device))
    return device, codes


def next_step(device) -> None:
    """The device's last accepted step moves back one, as if 30 seconds had passed (a new code is due)."""
    device.refresh_from_db()
    device.last_t -= 1
    device.save(update_fields=["last_t"])
