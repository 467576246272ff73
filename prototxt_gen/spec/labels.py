"""Label values and class colours (docs/design.md, Data sets)."""

IGNORE = 255  # label of pixels no loss or score counts
# Colours that mean "ignore" in colour-coded labels: white and VOC's boundary colour.
IGNORE_COLOURS = ((255, 255, 255), (224, 224, 192))

# The standard VOC colour map; the short names are the paper's table columns.
VOC = (("background", (0, 0, 0)), ("aero", (128, 0, 0)), ("bike", (0, 128, 0)),
       ("bird", (128, 128, 0)), ("boat", (0, 0, 128)), ("bottle", (128, 0, 128)),
       ("bus", (0, 128, 128)), ("car", (128, 128, 128)), ("cat", (64, 0, 0)),
       ("chair", (192, 0, 0)), ("cow", (64, 128, 0)), ("table", (192, 128, 0)),
       ("dog", (64, 0, 128)), ("horse", (192, 0, 128)), ("mbike", (64, 128, 128)),
       ("person", (192, 128, 128)), ("plant", (0, 64, 0)), ("sheep", (128, 64, 0)),
       ("sofa", (0, 192, 0)), ("train", (128, 192, 0)), ("tv", (0, 64, 128)))

# The 11 CamVid classes in the order of the released models (KITTI shares them).
CAMVID = (("building", (128, 0, 0)), ("tree", (128, 128, 0)), ("sky", (128, 128, 128)),
          ("car", (64, 0, 128)), ("sign", (192, 128, 128)), ("road", (128, 64, 128)),
          ("pedestrian", (64, 64, 0)), ("fence", (64, 64, 128)), ("pole", (192, 192, 128)),
          ("sidewalk", (0, 0, 192)), ("bicyclist", (0, 128, 192)))

# Cityscapes' 19 train ids.
CITYSCAPES = (("road", (128, 64, 128)), ("sidewalk", (244, 35, 232)), ("building", (70, 70, 70)),
              ("wall", (102, 102, 156)), ("fence", (190, 153, 153)), ("pole", (153, 153, 153)),
              ("light", (250, 170, 30)), ("sign", (220, 220, 0)), ("vegetation", (107, 142, 35)),
              ("terrain", (152, 251, 152)), ("sky", (70, 130, 180)), ("person", (220, 20, 60)),
              ("rider", (255, 0, 0)), ("car", (0, 0, 142)), ("truck", (0, 0, 70)),
              ("bus", (0, 60, 100)), ("train", (0, 80, 100)), ("motorcycle", (0, 0, 230)),
              ("bicycle", (119, 11, 32)))

# The SegNet tutorial's CamVid (CamVid/ with train.txt, trainannot/, ...; the copy
# almost everyone has): grey labels 0..10 in SegNet's class order, named here as
# the released model names them (SegNet: Sky, Building, Pole, Road, Pavement,
# Tree, SignSymbol, Fence, Car, Pedestrian, Bicyclist), and 11 for void.
SEGNET_CAMVID = ("sky", "building", "pole", "road", "sidewalk", "tree", "sign", "fence", "car",
                 "pedestrian", "bicyclist")
SEGNET_VOID = 11
# Void in labels colour-coded with the CamVid colours (CamVid's own, Ros et al.'s KITTI).
CAMVID_VOID_COLOUR = (0, 0, 0)
